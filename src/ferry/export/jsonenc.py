"""JSON encoding for collected values, and a streaming writer for one dataset file.

Values are encoded so nothing is lost and anyone can read them back:
datetimes, dates and times as ISO-8601 text, decimals as exact text, bytes as base64 text,
UUIDs as text. Output is UTF-8 with real characters (``ensure_ascii=False``).
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import PurePath
from typing import Protocol
from uuid import UUID

import orjson

from ferry.domain.errors import InvalidInput
from ferry.domain.models import DatasetRows


class BytesSink(Protocol):
    """Anything with ``write(bytes)``: a file, a zip entry, a hashing wrapper."""

    def write(self, data: bytes, /) -> object: ...


class HashingSink:
    """Passes bytes on in 64 KiB chunks, hashing (sha256) and counting what went through."""

    def __init__(self, raw: BytesSink, chunk: int = 1 << 16) -> None:
        self._raw = raw
        self._chunk = chunk
        self._hash = hashlib.sha256()
        self._buf = bytearray()
        self.size = 0

    def write(self, data: bytes, /) -> int:
        self._buf += data
        if len(self._buf) >= self._chunk:
            self.flush()
        return len(data)

    def flush(self) -> None:
        """Send buffered bytes on; call before closing the underlying file."""
        if self._buf:
            chunk = bytes(self._buf)
            self._buf.clear()
            self._hash.update(chunk)
            self._raw.write(chunk)
            self.size += len(chunk)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def json_default(value: object) -> object:
    """``json`` hook for the types collectors return that JSON does not know."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, UUID | PurePath):
        return str(value)
    if isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    raise TypeError(f"values of type {type(value).__name__} cannot be written as JSON")


def iso_duration(delta: timedelta) -> str:
    """ISO-8601 duration, e.g. ``P1DT2H3M4.5S`` (negative durations get a leading ``-``)."""
    sign = "-" if delta < timedelta(0) else ""
    delta = abs(delta)
    seconds = delta.seconds + delta.microseconds / 1_000_000
    secs = f"{seconds:.6f}".rstrip("0").rstrip(".")
    return f"{sign}P{delta.days}DT{secs}S"


def _finite(value: object) -> object:
    """Replace NaN/Infinity floats (not valid JSON) with their text, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(value: object) -> str:
    """Encode one value as JSON text (no NaN; real characters, not ``\\u`` escapes)."""
    try:
        return json.dumps(value, default=json_default, ensure_ascii=False, allow_nan=False)
    except ValueError:  # a NaN or Infinity somewhere: write it as text rather than fail
        return json.dumps(_finite(value), default=json_default, ensure_ascii=False)


def encode(value: object) -> bytes:
    """Encode one value as UTF-8 JSON bytes."""
    text = dumps(value)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: keep them as \\u escapes, still valid JSON
        return json.dumps(json.loads(text), ensure_ascii=True).encode("ascii")


_ORJSON = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def encode_row(row: Mapping[str, object]) -> bytes:
    """``encode`` for one flat row, fast (orjson) when it can be, identical in values."""
    for value in row.values():
        if type(value) is float and not math.isfinite(value):
            return encode(row)
    try:
        return orjson.dumps(row, default=json_default, option=_ORJSON)
    except (orjson.JSONEncodeError, TypeError):  # huge ints, lone surrogates, odd keys
        return encode(row)


def dataset_fields(data: DatasetRows) -> dict[str, str | None]:
    """Every field of the dataset with its data category; unmapped fields get ``None``."""
    fields: dict[str, str | None] = dict(data.categories)
    for row in data.rows:
        for key in row:
            if key not in fields:
                fields[str(key)] = None
    return fields


def write_dataset(sink: BytesSink, data: DatasetRows) -> int:
    """Write ``{"system", "dataset", "fields", "rows": [...]}`` row by row; returns rows written.

    The whole document is never held in memory: the head, then each row, then the tail.
    """
    head = {"system": data.system, "dataset": data.dataset, "fields": dataset_fields(data)}
    sink.write(encode(head)[:-1] + b', "rows": [')
    count = _write_rows(sink, data.rows, data)
    sink.write(b"\n]}\n" if count else b"]}\n")
    return count


def _write_rows(sink: BytesSink, rows: Iterable[Mapping[str, object]], data: DatasetRows) -> int:
    count = 0
    for row in rows:
        try:
            encoded = encode_row(row)
        except TypeError as exc:
            where = f"{data.system}/{data.dataset} row {count + 1}"
            raise InvalidInput(f"{where}: {exc}; convert it to text in the connector") from exc
        sink.write(b"\n" + encoded if count == 0 else b",\n" + encoded)
        count += 1
    return count
