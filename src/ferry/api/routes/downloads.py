"""/api/v1/downloads/{token}: the package behind an expiring signed link."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ferry.api.errors import error_responses
from ferry.services import packages

router = APIRouter(
    tags=["downloads"],
    responses=error_responses({410: "The link expired or the package is gone"}),
)


@router.get("/downloads/{token}", response_class=FileResponse)
def download(token: str) -> FileResponse:
    found = packages.open_download(token)
    return FileResponse(
        found.path,
        media_type="application/zip",
        filename=found.filename,
        headers={"X-Content-SHA256": found.sha256, "Cache-Control": "no-store"},
    )
