"""The magic link's landing page. Opening the link only shows a button; pressing it (a POST)
verifies, so a mail scanner that fetches links cannot use the person's link up."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ferry.domain.errors import FerryError
from ferry.services import verification
from ferry.web.portal import _client, _cookie, _page, _status, _tenant

router = APIRouter(prefix="/p/{slug}", include_in_schema=False)


@router.get("/r/{request_id}/verify/link", response_class=HTMLResponse)
def link_page(request: Request, slug: str, request_id: str, t: str = "") -> HTMLResponse:
    status = _status(slug, request_id)
    return _page(request, "verify_link.html", tenant=_tenant(slug), status=status, token=t[:200])


@router.post("/r/{request_id}/verify/link", response_class=HTMLResponse)
def link_confirm(request: Request, slug: str, request_id: str, t: str = Form("")) -> Response:
    _status(slug, request_id)
    try:
        client = _client(request)
        done = verification.answer(request_id, "magic-link", {"token": t[:200]}, client)
    except FerryError as exc:
        return _page(
            request,
            "verify_link.html",
            exc.status,
            tenant=_tenant(slug),
            status=_status(slug, request_id),
            token="",
            error=exc.message,
        )
    response = RedirectResponse(f"/p/{slug}/r/{request_id}", status_code=303)
    response.set_cookie(
        _cookie(request_id),
        done.access_token,
        httponly=True,
        samesite="lax",
        path=f"/p/{slug}/r/{request_id}",
        max_age=30 * 86400,
    )
    return response


def install(app: FastAPI) -> None:
    app.include_router(router)
