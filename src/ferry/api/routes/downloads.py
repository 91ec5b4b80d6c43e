"""/api/v1/downloads/{token}: the package behind an expiring signed link.

The stored package is encrypted at rest; it is decrypted while it streams. One byte range
(``Range: bytes=N-[M]``) resumes a broken download without counting it again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from fastapi import APIRouter, Header
from fastapi.responses import StreamingResponse

from ferry.api.errors import error_responses
from ferry.domain.errors import FerryError
from ferry.services import packages

router = APIRouter(
    tags=["downloads"],
    responses=error_responses(
        {410: "The link expired or the package is gone", 416: "A byte range Ferry cannot serve"}
    ),
)

_RANGE = re.compile(r"bytes=(\d{1,15})-(\d{1,15})?")


@router.get("/downloads/{token}", response_class=StreamingResponse)
def download(token: str, range_: str | None = Header(None, alias="Range")) -> StreamingResponse:
    """The package zip; HTTP Range requests resume a broken download (not counted again)."""
    wanted = _parse_range(range_)
    found = packages.open_download(token, wanted[0] if wanted else None)
    headers = {
        "Content-Disposition": f'attachment; filename="{found.filename}"',
        "X-Content-SHA256": found.sha256,
        "Cache-Control": "no-store",
        "Accept-Ranges": "bytes",
    }
    if wanted is None:
        headers["Content-Length"] = str(found.size)
        return StreamingResponse(iter(found.chunks), media_type="application/zip", headers=headers)
    start, end = (
        wanted[0],
        min(wanted[1] if wanted[1] is not None else found.size - 1, found.size - 1),
    )
    if start > end:
        raise FerryError(
            f"the package has {found.size} bytes; the range starts past its end",
            code="bad_range",
            status=416,
        )
    headers["Content-Range"] = f"bytes {start}-{end}/{found.size}"
    headers["Content-Length"] = str(end - start + 1)
    body = _slice(found.chunks, start, end)
    return StreamingResponse(body, status_code=206, media_type="application/zip", headers=headers)


def _parse_range(value: str | None) -> tuple[int, int | None] | None:
    """One ``bytes=N-[M]`` range only (what resuming clients send)."""
    if value is None:
        return None
    found = _RANGE.fullmatch(value.strip())
    if found is None or (found.group(2) and int(found.group(2)) < int(found.group(1))):
        raise FerryError(
            "only one byte range like `bytes=1000-` is supported", code="bad_range", status=416
        )
    return int(found.group(1)), int(found.group(2)) if found.group(2) else None


def _slice(chunks: Iterable[bytes], start: int, end: int) -> Iterator[bytes]:
    """Bytes ``start``..``end`` (inclusive) of the decrypted stream."""
    offset = 0
    for chunk in chunks:
        lo, hi = offset, offset + len(chunk)
        offset = hi
        if hi <= start:
            continue
        yield chunk[max(start - lo, 0) : min(end + 1 - lo, len(chunk))]
        if hi > end:
            return
