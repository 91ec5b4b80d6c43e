"""CSV (RFC 4180): one file per dataset, a header row of field names, then one line per row.

Cells are text as ``values.to_text`` writes them (empty for a missing value). Text that a
spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
return) gets a leading apostrophe, and so does text that already starts with one; a reader
gets the original back by dropping one leading apostrophe (:func:`unneutralise`). Numbers are
never changed, so ``-5`` stays a number.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import BytesSink
from ferry.export.schema import DatasetSchema
from ferry.export.values import decimal_text, to_text
from ferry.export.writers.base import WriterOptions, batches

BOM = b"\xef\xbb\xbf"
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "'")
_BATCH = 512  # rows converted and written at a time
_STARTS = re.compile("(?:^|\0)[=+\\-@\t\r']")  # a value after a NUL starts with a trigger


def neutralise(cell: str) -> str:
    return "'" + cell if cell.startswith(TRIGGERS) else cell


def unneutralise(cell: str) -> str:
    """The original text of a text cell written by this writer."""
    return cell[1:] if cell.startswith("'") else cell


def cell_text(value: object) -> str:
    kind = type(value)
    if kind is str:
        text = cast(str, value)
        return "'" + text if text.startswith(TRIGGERS) else text
    if kind is int or value is None:
        return "" if value is None else str(value)
    if isinstance(value, str | dict | list | tuple):
        return neutralise(to_text(value))
    return to_text(value)


def _text_cell(value: str) -> str:
    return "'" + value if value.startswith(TRIGGERS) else value


_FAST: dict[type, Callable[[Any], str]] = {
    str: _text_cell,
    int: str,
    type(None): lambda _v: "",
    Decimal: decimal_text,
    datetime: datetime.isoformat,
}


class CsvWriter:
    name = "csv"
    extension = "csv"
    media_type = "text/csv"
    title = "CSV (opens in any spreadsheet program)"

    def __init__(self, options: WriterOptions) -> None:
        self.options = options

    def fits(self, data: DatasetRows) -> bool:
        return True

    def write(self, sink: BytesSink, data: DatasetRows, schema: DatasetSchema) -> int:
        names = [f.name for f in schema.fields]
        buffer = io.StringIO()
        out = csv.writer(buffer, lineterminator="\r\n")
        out.writerow([neutralise(n) for n in names])
        if self.options.csv_bom:
            sink.write(BOM)
        count = 0
        for rows in batches(data.rows, _BATCH):
            columns = [_cells([row.get(n) for row in rows]) for n in names]
            out.writerows(zip(*columns, strict=True) if names else [()] * len(rows))
            count += len(rows)
            _drain(buffer, sink)
        _drain(buffer, sink)
        return count


def _cells(values: list[object]) -> list[str]:
    """The cells of one column of a batch (as ``cell_text``): one conversion for the column
    when its values are all of one common type, and one scan for formula triggers."""
    kinds = set(map(type, values))
    if len(kinds) == 1:
        kind = kinds.pop()
        if kind is str:
            texts = cast(list[str], values)
            return (
                texts if _STARTS.search("\0".join(texts)) is None else list(map(_text_cell, texts))
            )
        convert = _FAST.get(kind)
        if convert is not None:
            return list(map(convert, values))
    return [_FAST.get(type(v), cell_text)(v) for v in values]


def _drain(buffer: io.StringIO, sink: BytesSink) -> None:
    text = buffer.getvalue()
    if text:
        sink.write(text.encode("utf-8", "replace"))
    buffer.seek(0)
    buffer.truncate()
