"""/api/v1/downloads/{token}: the package behind an expiring signed link."""

from __future__ import annotations

import re

from fastapi import APIRouter, Header
from fastapi.responses import FileResponse

from ferry.api.errors import error_responses
from ferry.domain.errors import FerryError
from ferry.services import packages

router = APIRouter(
    tags=["downloads"],
    responses=error_responses({410: "The link expired or the package is gone"}),
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


_RANGE = re.compile(r"bytes=(\d{1,15})-(\d{1,15})?")


def _range_start(value: str | None) -> int | None:
    """Where a resumed download starts; one ``bytes=N-[M]`` range only (what resumers send)."""
    if value is None:
        return None
    found = _RANGE.fullmatch(value.strip())
    if found is None:
        raise FerryError(
            "only one byte range like `bytes=1000-` is supported", code="bad_range", status=416
        )
    return int(found.group(1))
