"""/api/v1/downloads/{token}: the package behind an expiring signed link."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from ferry.api.errors import ERROR_RESPONSES
from ferry.services import packages

router = APIRouter(
    tags=["downloads"],
    responses={**ERROR_RESPONSES, 410: {"description": "The link expired or the package is gone"}},
)


@router.get("/downloads/{token}", response_class=StreamingResponse)
def download(token: str) -> StreamingResponse:
    """The package zip, decrypted while it streams (no Range support yet)."""
    found = packages.open_download(token)
    return StreamingResponse(
        iter(found.chunks),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{found.filename}"',
            "Content-Length": str(found.size),
            "X-Content-SHA256": found.sha256,
            "Cache-Control": "no-store",
        },
    )
