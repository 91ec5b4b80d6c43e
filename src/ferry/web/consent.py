"""The person's view of a consent (from the link mailed at grant): what they agreed to, and a
button to withdraw it. Routes under ``/p/{slug}/consents``."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ferry.domain.errors import NotFound
from ferry.services import consents, tenants
from ferry.web.portal import templates

router = APIRouter(prefix="/p/{slug}/consents", include_in_schema=False)


def _consent(slug: str, token: str) -> consents.ConsentView:
    view = consents.show(consents.from_person_token(token))
    if view.tenant != slug:
        raise NotFound("no such consent", code="not_found")
    return view


@router.get("/{token}", response_class=HTMLResponse)
def show(request: Request, slug: str, token: str, revoked: int = 0) -> HTMLResponse:
    page: HTMLResponse = templates.TemplateResponse(
        request,
        "consent/show.html",
        {
            "tenant": tenants.get_tenant(slug),
            "consent": _consent(slug, token),
            "token": token,
            "revoked": bool(revoked),
        },
    )
    return page


@router.post("/{token}/revoke")
def revoke(slug: str, token: str) -> Response:
    view = _consent(slug, token)
    consents.revoke(view.id, "subject")
    return RedirectResponse(f"/p/{slug}/consents/{token}?revoked=1", status_code=303)


def install(app: FastAPI) -> None:
    app.include_router(router)
