"""Time in one convention: naive datetimes are UTC everywhere in Ferry's store."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
