"""The fast paths of the package writers give the same bytes and types as the plain ones.

Schema inference reads the rows once (spooled rows come from disk), chunk by chunk; the JSON
writer writes rows in batches. Neither may change what is written.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ferry.domain.models import DatasetRows
from ferry.export import schema as schema_module
from ferry.export.jsonenc import encode, encode_row, json_default, write_dataset
from ferry.export.schema import infer_schema
from ferry.export.writers.contentline import block
from ferry.export.writers.ical import ical_time


class CountingRows(list[dict[str, object]]):
    """Rows that can only be iterated (like spooled rows) and count how often they are."""

    def __init__(self, rows: list[dict[str, object]]) -> None:
        super().__init__()
        self._rows = rows
        self.passes = 0

    def __iter__(self) -> Iterator[dict[str, object]]:
        self.passes += 1
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


def _rows(n: int) -> list[dict[str, object]]:
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    return [{"id": i, "amount": Decimal(i) / 4, "at": when, "note": f"n{i}"} for i in range(n)]


def test_schema_reads_the_rows_once() -> None:
    rows = CountingRows(_rows(10_000))
    data = DatasetRows("s", "d", {"id": None, "amount": "a.b"}, rows)
    schema = infer_schema(data)
    assert rows.passes == 1
    assert [(f.name, f.type) for f in schema.fields] == [
        ("id", "integer"),
        ("amount", "number"),
        ("at", "datetime"),
        ("note", "string"),
    ]


def test_schema_sees_fields_and_values_in_later_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(schema_module, "_CHUNK", 3)
    rows: list[dict[str, object]] = [{"a": 1} for _ in range(7)]
    rows.append({"a": 2.5, "late": "x", "dec": Decimal("NaN")})
    rows.append({"a": 3, "dec": Decimal("1.5")})
    schema = infer_schema(DatasetRows("s", "d", {"unused": "c"}, rows))
    by_name = {f.name: f for f in schema.fields}
    assert list(by_name) == ["unused", "a", "late", "dec"]
    assert by_name["a"].type == "number" and by_name["a"].has_float
    assert by_name["late"].type == "string"
    assert by_name["dec"].type == "string"  # a NaN decimal in one chunk makes the column text
    assert by_name["unused"].type == "string" and by_name["unused"].simple


class _Asked:
    """An iterator over rows that counts how often it is asked for the next one."""

    def __init__(self, rows: list[dict[str, object]]) -> None:
        self._rows = iter(rows)
        self.asked = 0

    def __iter__(self) -> _Asked:
        return self

    def __next__(self) -> dict[str, object]:
        self.asked += 1
        return next(self._rows)


def test_schema_sees_a_field_in_a_short_last_chunk_and_asks_no_further(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(schema_module, "_CHUNK", 3)
    given: list[dict[str, object]] = [{"a": 1} for _ in range(7)]
    given.append({"a": 2, "late": 5})
    rows = _Asked(given)  # chunks of 3, 3 and 2 rows
    schema = infer_schema(DatasetRows("s", "d", {}, rows))  # type: ignore[arg-type]
    assert [(f.name, f.type) for f in schema.fields] == [("a", "integer"), ("late", "integer")]
    assert rows.asked == 9  # 8 rows, then the one answer that there are no more


def test_schema_of_no_rows() -> None:
    schema = infer_schema(DatasetRows("s", "d", {"x": "c"}, []))
    assert [(f.name, f.type, f.simple) for f in schema.fields] == [("x", "string", True)]


@pytest.mark.parametrize("n", [0, 1, 511, 512, 513, 1024, 1537])
def test_json_batches_give_the_same_bytes(n: int) -> None:
    rows = _rows(n)
    data = DatasetRows("s", "d", {}, rows)
    schema = infer_schema(data)
    fields = schema.field_categories
    out = io.BytesIO()
    assert write_dataset(out, data, schema.float_fields, fields, schema.simple) == n
    head = encode({"system": "s", "dataset": "d", "fields": dict(fields)})[:-1] + b', "rows": ['
    body = b"\n" + b",\n".join(encode_row(r) for r in rows) + b"\n]}\n" if n else b"]}\n"
    assert out.getvalue() == head + body
    assert json.loads(out.getvalue())["rows"] == json.loads(json.dumps(rows, default=json_default))


def _block_line_by_line(lines: list[str]) -> bytes:
    """The plain form of ``block``: each line on its own, folded at 75 octets."""
    out = b""
    for line in lines:
        raw = line.encode("utf-8", "replace")
        parts, start, limit = [], 0, 75
        while start < len(raw) or not parts:
            end = min(start + limit, len(raw))
            while end < len(raw) and (raw[end] & 0xC0) == 0x80:
                end -= 1
            parts.append(raw[start:end])
            start, limit = end, 74
        out += b"\r\n ".join(parts) + b"\r\n"
    return out


@pytest.mark.parametrize(
    "lines",
    [
        [],
        ["BEGIN:VCARD", "FN:Ann", "END:VCARD"],
        ["x" * 75, "y" * 76, "z" * 149, "w" * 150, "v" * 400],
        ["DESCRIPTION:" + "é" * 100, "SUMMARY:short", "NOTE:" + "a" * 200],
        ["NOTE:" + "日本語テキスト" * 20, "X:" + "\U0001f600" * 40],
        ["lone \ud800 surrogate " * 5],
    ],
)
def test_content_lines_fold_the_same_on_every_path(lines: list[str]) -> None:
    assert block(lines) == _block_line_by_line(lines)
    for raw in block(lines).split(b"\r\n"):
        assert len(raw) <= 75


def test_ical_times_in_utc_and_other_offsets() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert ical_time(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == ("", "20240102T030405Z")
    assert ical_time(datetime(2024, 1, 2, 1, 4, 5, tzinfo=plus_two)) == ("", "20240101T230405Z")
    assert ical_time(datetime(2024, 1, 2, 3, 4, 5)) == ("", "20240102T030405")
