"""The download centre in the portal: sign in with a one-time code, see your packages, download.

Separate from ``portal.py`` (routes under ``/p/{slug}/downloads``); it uses the same templates
base and error pages.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ferry.domain.errors import FerryError
from ferry.services import download_centre, portal_consents, tenants
from ferry.web.portal import templates

router = APIRouter(prefix="/p/{slug}/downloads", include_in_schema=False)
_PENDING, _SIGNED = "ferry_centre_pending", "ferry_centre"


def _page(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    page: HTMLResponse = templates.TemplateResponse(
        request, f"centre/{name}", ctx, status_code=status
    )
    return page


def _cookie(response: Response, slug: str, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, httponly=True, samesite="strict", path=f"/p/{slug}/downloads", max_age=max_age
    )


@router.get("", response_class=HTMLResponse)
def centre(request: Request, slug: str) -> Response:
    tenant = tenants.get_tenant(slug)
    token = request.cookies.get(_SIGNED, "")
    if token:
        try:
            entries = download_centre.list_packages(slug, token)
        except FerryError:
            entries = None
        if entries is not None:
            return _page(request, "list.html", tenant=tenant, entries=entries)
    return _page(request, "sign_in.html", tenant=tenant)


@router.post("/sign-in", response_class=HTMLResponse)
def sign_in(request: Request, slug: str, email: str = Form("")) -> Response:
    tenant = tenants.get_tenant(slug)
    try:
        pending = download_centre.start_sign_in(slug, email)
    except FerryError as exc:
        return _page(request, "sign_in.html", 400, tenant=tenant, error=exc.message)
    response = _page(request, "code.html", tenant=tenant)
    _cookie(response, slug, _PENDING, pending, 20 * 60)
    return response


@router.post("/code", response_class=HTMLResponse)
def code(request: Request, slug: str, code: str = Form("")) -> Response:
    tenant = tenants.get_tenant(slug)
    try:
        token = download_centre.finish_sign_in(slug, request.cookies.get(_PENDING, ""), code)
    except FerryError as exc:
        return _page(request, "code.html", exc.status, tenant=tenant, error=exc.message)
    response = RedirectResponse(f"/p/{slug}/downloads", status_code=303)
    _cookie(response, slug, _SIGNED, token, 3600)
    response.delete_cookie(_PENDING, path=f"/p/{slug}/downloads")
    return response


def install(app: FastAPI) -> None:
    app.include_router(router)


@router.get("/consents", response_class=HTMLResponse)
def consents_page(request: Request, slug: str) -> Response:
    token = request.cookies.get(_SIGNED, "")
    try:
        given = portal_consents.mine(slug, token)
    except FerryError:
        return RedirectResponse(f"/p/{slug}/downloads", status_code=303)
    return _consents(request, slug, given)


def _consents(
    request: Request,
    slug: str,
    given: list[portal_consents.PortalConsent],
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return _page(
        request,
        "consents.html",
        status,
        tenant=tenants.get_tenant(slug),
        given=given,
        choices=portal_consents.choices(slug),
        error=error,
    )


@router.post("/consents", response_class=HTMLResponse)
async def give_consent(request: Request, slug: str) -> Response:
    token = request.cookies.get(_SIGNED, "")
    form = await request.form()
    try:
        portal_consents.give(
            slug,
            token,
            str(form.get("recipient", "")),
            str(form.get("purpose", "")),
            [str(c) for c in form.getlist("category")],
            int(str(form.get("months", "0")) or 0),
        )
    except (FerryError, ValueError) as exc:
        message = exc.message if isinstance(exc, FerryError) else "choose how long it lasts"
        try:
            given = portal_consents.mine(slug, token)
        except FerryError:
            return RedirectResponse(f"/p/{slug}/downloads", status_code=303)
        return _consents(request, slug, given, message, 400)
    return RedirectResponse(f"/p/{slug}/downloads/consents", status_code=303)


# last: the catch-all path must not shadow /consents
@router.post("/{request_id}", response_class=HTMLResponse)
def download(request: Request, slug: str, request_id: str) -> Response:
    link = download_centre.link(slug, request.cookies.get(_SIGNED, ""), request_id)
    return RedirectResponse(f"/api/v1/downloads/{link.token}", status_code=303)
