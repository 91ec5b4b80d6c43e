"""The person asks for their data to be sent straight to another company (a transfer), choosing
the receiver from the tenant's list of known recipients. Routes under ``/p/{slug}/transfer``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ferry.domain.errors import FerryError
from ferry.domain.models import Identity
from ferry.jurisdictions import known_codes
from ferry.services import recipients, requests, tenants
from ferry.web.portal import templates

router = APIRouter(prefix="/p/{slug}/transfer", include_in_schema=False)


def _form(
    request: Request, slug: str, error: str | None = None, values: dict[str, str] | None = None
) -> HTMLResponse:
    tenant = tenants.get_tenant(slug)
    codes = tenant.jurisdictions + [c for c in known_codes() if c not in tenant.jurisdictions]
    ctx: dict[str, Any] = {
        "tenant": tenant,
        "recipients": [r.name for r in recipients.list_for(slug)],
        "jurisdictions": codes,
        "error": error,
        "values": values or {},
    }
    page: HTMLResponse = templates.TemplateResponse(
        request, "transfer/form.html", ctx, status_code=400 if error else 200
    )
    return page


@router.get("", response_class=HTMLResponse)
def form(request: Request, slug: str) -> HTMLResponse:
    return _form(request, slug)


@router.post("", response_class=HTMLResponse)
def submit(
    request: Request,
    slug: str,
    email: str = Form(""),
    recipient: str = Form(""),
    jurisdiction: str = Form(""),
) -> Response:
    values = {"email": email, "recipient": recipient, "jurisdiction": jurisdiction}
    try:
        if recipient not in [r.name for r in recipients.list_for(slug)]:
            raise FerryError("choose the company to send your data to from the list")
        view = requests.submit(
            slug,
            "transfer",
            [Identity.parse("email", email)],
            jurisdiction=jurisdiction or None,
            channel="portal",
            recipient=recipient,
        )
    except FerryError as exc:
        return _form(request, slug, exc.message, values)
    return RedirectResponse(f"/p/{slug}/r/{view.id}/verify", status_code=303)


def install(app: FastAPI) -> None:
    app.include_router(router)
