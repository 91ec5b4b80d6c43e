"""The self-service portal: submit a request, prove it is you, follow it, download your data."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException

from ferry.domain.errors import FerryError, NotFound
from ferry.domain.models import Identity, RequestKind
from ferry.jurisdictions import known_codes
from ferry.services import packages, requests, tenants, verification, verify_guard
from ferry.services.views import StatusView, TenantView

log = logging.getLogger("ferry.portal")
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
router = APIRouter(prefix="/p/{slug}", include_in_schema=False)

KIND_LABELS = {
    RequestKind.ACCESS: "A copy of all my data",
    RequestKind.TRANSFER: "Send my data to another company",
    RequestKind.DEVICE: "My settings and activity, to use on another device or service",
    RequestKind.CONSENT_SHARE: "Share my data with a partner I agreed to",
}
STATE_TEXT = {
    "received": "We have received your request.",
    "awaiting_verification": "We need to confirm it is you. Enter the code we emailed you.",
    "verified": "You are verified. We are about to gather your data.",
    "collecting": "We are gathering your data from our systems.",
    "review": "Your data is gathered; a member of our team is checking it before release.",
    "ready": "Your data is ready to download.",
    "delivered": "Your data has been delivered. You can download it again until the link expires.",
    "closed": "This request is closed.",
    "rejected": "This request was declined. We have written to you with the reason and your "
    "right to complain to the data protection authority.",
    "withdrawn": "This request was withdrawn.",
    "failed": "Something went wrong gathering your data. Our team has been told and will retry.",
    "paused": "This request is paused while we wait for something from you.",
    "extended": "We have extended the time to answer; we wrote to you with the reason.",
}


COUNTRY_NAMES = {
    "AT": "Austria",
    "BE": "Belgium",
    "BG": "Bulgaria",
    "CY": "Cyprus",
    "CZ": "Czechia",
    "DE": "Germany",
    "DK": "Denmark",
    "EE": "Estonia",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "GR": "Greece",
    "HR": "Croatia",
    "HU": "Hungary",
    "IE": "Ireland",
    "IT": "Italy",
    "LT": "Lithuania",
    "LU": "Luxembourg",
    "LV": "Latvia",
    "MT": "Malta",
    "NL": "Netherlands",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SE": "Sweden",
    "SI": "Slovenia",
    "SK": "Slovakia",
    "GB": "United Kingdom",
    "US-CA": "California, United States",
}
# What a person (not an operator) should read when something is not found.
SUBJECT_MESSAGES = {
    "tenant_not_found": "We could not find this page. Check the address in the link or email "
    "you were given; the company's privacy notice has the right one.",
    "request_not_found": "We could not find this request. Check the address in the email we "
    "sent you, or start a new request.",
    "not_found": "There is no page at this address. Check the link you followed.",
    "method_not_allowed": "This page cannot be opened that way. Go back and try again.",
    "internal_error": "Something went wrong on our side. It has been logged and nothing you sent "
    "was lost; please try again in a few minutes.",
}


def _place(code: str) -> str:
    """A jurisdiction code as a person reads it: ``EU-DE`` is Germany."""
    key = code[3:] if code.startswith("EU-") else code
    return COUNTRY_NAMES.get(key, code)


def _sentence(text: str) -> str:
    """Service messages are lower-case clauses; on a page each reads as a sentence."""
    text = text.strip()
    if text[:1].islower():
        text = text[:1].upper() + text[1:]
    return text if not text or text.endswith((".", "!", "?")) else text + "."


templates.env.filters["sentence"] = _sentence


def _client(request: Request) -> str | None:
    """The caller's address, counted against the verification rate limit."""
    host = request.client.host if request.client else None
    if host:
        verify_guard.throttle(host, "portal")
    return host


def _cookie(request_id: str) -> str:
    return f"ferry_{request_id[:12]}"


def _page(request: Request, name: str, http_status: int = 200, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, f"portal/{name}", ctx, status_code=http_status)


def _tenant(slug: str) -> TenantView:
    return tenants.get_tenant(slug)


def _status(slug: str, request_id: str) -> StatusView:
    view = requests.status(request_id)
    if view.tenant != slug:
        raise NotFound("no such request", code="request_not_found")
    return view


@router.get("/", response_class=HTMLResponse)
def form(request: Request, slug: str) -> HTMLResponse:
    return _form(request, _tenant(slug))


def _form(
    request: Request,
    tenant: TenantView,
    error: str | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    codes = tenant.jurisdictions + [c for c in known_codes() if c not in tenant.jurisdictions]
    return _page(
        request,
        "form.html",
        status,
        tenant=tenant,
        kinds=KIND_LABELS,
        jurisdictions=[(code, _place(code)) for code in codes],
        error=error,
        values=values or {},
    )


@router.post("/", response_class=HTMLResponse)
def submit(
    request: Request,
    slug: str,
    email: str = Form(""),
    kind: str = Form("access"),
    jurisdiction: str = Form(""),
    customer_id: str = Form(""),
    formats: list[str] = Form([]),
) -> Response:
    tenant = _tenant(slug)
    values = {
        "email": email,
        "kind": kind,
        "jurisdiction": jurisdiction,
        "customer_id": customer_id,
    }
    try:
        identities = [Identity.parse("email", email)]
        if customer_id.strip():
            identities.append(Identity.parse("customer_id", customer_id))
        view = requests.submit(
            slug,
            kind,
            identities,
            jurisdiction=jurisdiction or None,
            channel="portal",
            formats=formats[:10] or None,
        )
    except FerryError as exc:
        return _form(request, tenant, exc.message, values, status=400)
    return RedirectResponse(f"/p/{slug}/r/{view.id}/verify", status_code=303)


@router.get("/r/{request_id}/verify", response_class=HTMLResponse)
def verify_form(request: Request, slug: str, request_id: str, sent: int = 0) -> HTMLResponse:
    status = _status(slug, request_id)
    return _page(request, "verify.html", tenant=_tenant(slug), status=status, sent=bool(sent))


def _verify_error(request: Request, slug: str, request_id: str, exc: FerryError) -> HTMLResponse:
    status = _status(slug, request_id)
    return _page(
        request,
        "verify.html",
        exc.status,
        tenant=_tenant(slug),
        status=status,
        error=exc.message,
        sent=False,
    )


@router.post("/r/{request_id}/verify", response_class=HTMLResponse)
def verify(request: Request, slug: str, request_id: str, code: str = Form("")) -> Response:
    status = _status(slug, request_id)
    try:
        token = verification.check_code(request_id, code, _client(request))
    except FerryError as exc:
        return _verify_error(request, slug, request_id, exc)
    response = RedirectResponse(f"/p/{slug}/r/{status.id}", status_code=303)
    response.set_cookie(
        _cookie(request_id),
        token,
        httponly=True,
        samesite="lax",
        path=f"/p/{slug}/r/{request_id}",
        max_age=30 * 86400,
    )
    return response


@router.post("/r/{request_id}/code", response_class=HTMLResponse)
def resend(request: Request, slug: str, request_id: str) -> Response:
    _status(slug, request_id)
    try:
        verification.resend_code(request_id, _client(request))
    except FerryError as exc:
        return _verify_error(request, slug, request_id, exc)
    return RedirectResponse(f"/p/{slug}/r/{request_id}/verify?sent=1", status_code=303)


@router.get("/r/{request_id}", response_class=HTMLResponse)
def status_page(request: Request, slug: str, request_id: str) -> HTMLResponse:
    status = _status(slug, request_id)
    token = request.cookies.get(_cookie(request_id), "")
    signed_in = bool(token) and verification.subject_allowed(token, request_id)
    return _page(
        request,
        "status.html",
        tenant=_tenant(slug),
        status=status,
        text=STATE_TEXT.get(status.state, status.state),
        signed_in=signed_in,
    )


@router.post("/r/{request_id}/download")
def download(request: Request, slug: str, request_id: str) -> Response:
    _status(slug, request_id)
    token = request.cookies.get(_cookie(request_id), "")
    if not (token and verification.subject_allowed(token, request_id)):
        return RedirectResponse(f"/p/{slug}/r/{request_id}", status_code=303)
    link = packages.download_link(request_id, "subject")
    return RedirectResponse(f"/api/v1/downloads/{link.token}", status_code=303)


def error_page(request: Request, exc: FerryError) -> HTMLResponse:
    message = SUBJECT_MESSAGES.get(exc.code, exc.message)
    return _page(request, "error.html", exc.status, message=message)


def _message_page(request: Request, code: str, http_status: int) -> HTMLResponse:
    return _page(request, "error.html", http_status, message=SUBJECT_MESSAGES[code])


Handler = Callable[[Request, Exception], Awaitable[Response] | Response]


def _portal_errors(app: FastAPI) -> None:
    """Errors under /p/ are pages a person can read; elsewhere the app's own handlers answer."""
    api_http = app.exception_handlers.get(HTTPException)
    api_unexpected = app.exception_handlers.get(Exception)

    async def delegate(handler: Handler | None, request: Request, exc: Exception) -> Response:
        if handler is None:
            raise exc
        answer = handler(request, exc)
        return await answer if isinstance(answer, Awaitable) else answer

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if not request.url.path.startswith("/p/"):
            return await delegate(api_http, request, exc)
        code = "method_not_allowed" if exc.status_code == 405 else "not_found"
        return _message_page(request, code, exc.status_code)

    async def unexpected(request: Request, exc: Exception) -> Response:
        if not request.url.path.startswith("/p/"):
            return await delegate(api_unexpected, request, exc)
        log.exception("unhandled error in the portal", exc_info=exc)
        return _message_page(request, "internal_error", 500)

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def install(app: FastAPI) -> None:
    app.include_router(router)
    _portal_errors(app)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/docs")
