"""/api/v1/downloads/{token}: the package behind an expiring signed link."""

from __future__ import annotations

import re

from fastapi import APIRouter, Header
from fastapi.responses import FileResponse

from ferry.api.errors import ERROR_RESPONSES
from ferry.services import packages

router = APIRouter(
    tags=["downloads"],
    responses={**ERROR_RESPONSES, 410: {"description": "The link expired or the package is gone"}},
)


@router.get("/downloads/{token}", response_class=FileResponse)
def download(token: str, range_: str | None = Header(None, alias="Range")) -> FileResponse:
    """The package; HTTP Range requests resume a broken download (not counted again)."""
    found = packages.open_download(token, _range_start(range_))
    return FileResponse(
        found.path,
        media_type="application/zip",
        filename=found.filename,
        headers={"X-Content-SHA256": found.sha256, "Cache-Control": "no-store"},
    )


def _range_start(value: str | None) -> int | None:
    found = re.match(r"\s*bytes\s*=\s*(\d+)\s*-", value or "")
    return int(found.group(1)) if found else None
