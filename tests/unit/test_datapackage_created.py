"""``datapackage.json``'s ``created`` is the UTC time to the second, as strftime wrote it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from ferry.export.datapackage import _utc_text, datapackage
from ferry.export.package import PackageMeta


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 1, 1),
        datetime(2024, 5, 1, 13, 45, 12, 999_999),
        datetime(1000, 1, 1),
        datetime(9999, 12, 31, 23, 59, 59),
    ],
)
def test_created_text_is_what_strftime_writes(when: datetime) -> None:
    assert _utc_text(when) == when.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_created_is_in_utc() -> None:
    east = timezone(timedelta(hours=2))
    meta = PackageMeta(tenant="t", request_id="r", created=datetime(2024, 5, 1, 1, 30, tzinfo=east))
    assert b'"created":"2024-04-30T23:30:00Z"' in datapackage(meta, [])
    meta = PackageMeta(tenant="t", request_id="r", created=datetime(2024, 5, 1, tzinfo=UTC))
    assert b'"created":"2024-05-01T00:00:00Z"' in datapackage(meta, [])
