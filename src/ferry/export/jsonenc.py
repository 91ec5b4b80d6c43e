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
from functools import lru_cache
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


_ORJSON = orjson.OPT_NON_STR_KEYS  # datetimes: orjson writes the same ISO text as isoformat()


def _fast_default(value: object) -> object:
    return str(value) if type(value) is Decimal else json_default(value)


def _has_non_finite(values: Iterable[object]) -> bool:
    return any(type(v) is float and not math.isfinite(v) for v in values)


def encode_row(row: Mapping[str, object], floats: Iterable[str] | None = None) -> bytes:
    """``encode`` for one flat row, fast (orjson) when it can be, identical in values.

    ``floats`` names the fields that may hold floats (``None``: any may); a NaN or infinity
    there takes the slow path, which writes it as text instead of orjson's ``null``.
    """
    if floats is None:
        if _has_non_finite(row.values()):
            return encode(row)
    elif floats and _has_non_finite([row.get(name) for name in floats]):
        return encode(row)
    try:
        return orjson.dumps(row, default=_fast_default, option=_ORJSON)
    except (orjson.JSONEncodeError, TypeError):  # huge ints, lone surrogates, odd keys
        return encode(row)


def dataset_fields(data: DatasetRows) -> dict[str, str | None]:
    """Every field of the dataset with its data category; unmapped fields get ``None``."""
    fields: dict[str, str | None] = dict(data.categories)
    known = fields.keys()
    for row in data.rows:
        if row.keys() <= known:  # the usual case, checked in C
            continue
        for key in row:
            if key not in fields:
                fields[str(key)] = None
    return fields


def write_dataset(
    sink: BytesSink,
    data: DatasetRows,
    floats: tuple[str, ...] | None = None,
    fields: tuple[tuple[str, str | None], ...] | None = None,
    simple: bool = False,
) -> int:
    """Write ``{"system", "dataset", "fields", "rows": [...]}`` row by row; returns rows written.

    ``fields``: ``(name, category)`` pairs in order (a schema's ``field_categories``), or
    None to find them in the rows. The whole document is never held in memory: the head,
    then each row, then the tail.
    """
    if fields is None:
        fields = tuple(dataset_fields(data).items())
    sink.write(_head(data.system, data.dataset, fields))
    count = _write_rows(sink, data.rows, data, floats, simple)
    sink.write(b"\n]}\n" if count else b"]}\n")
    return count


@lru_cache(maxsize=1024)
def _head(system: str, dataset: str, fields: tuple[tuple[str, str | None], ...]) -> bytes:
    """The document up to its first row: names and categories only, the same for every
    person, so encoded once (cached)."""
    head = {"system": system, "dataset": dataset, "fields": dict(fields)}
    return encode(head)[:-1] + b', "rows": ['


def _write_rows(
    sink: BytesSink,
    rows: Iterable[Mapping[str, object]],
    data: DatasetRows,
    floats: tuple[str, ...] | None,
    simple: bool = False,
) -> int:
    # ``simple``: only text, numbers, booleans, decimals and dates, so ``str`` (a C function)
    # is the whole default hook; the same text as ``json_default`` gives for these types.
    default = str if simple else _fast_default
    dumps, count, out, separator = orjson.dumps, 0, bytearray(), b"\n"
    for row in rows:
        try:
            if floats is None or floats:
                encoded = encode_row(row, floats)
            else:
                try:
                    encoded = dumps(row, default=default, option=_ORJSON)
                except (orjson.JSONEncodeError, TypeError):  # huge ints, lone surrogates
                    encoded = encode(row)
        except TypeError as exc:
            where = f"{data.system}/{data.dataset} row {count + 1}"
            raise InvalidInput(f"{where}: {exc}; convert it to text in the connector") from exc
        out += separator
        out += encoded  # each row's bytes are freed at once (keeping many slows orjson down)
        count, separator = count + 1, b",\n"
        if len(out) >= _BATCH:  # one write per 64 KiB: fewer calls, the same bytes
            sink.write(bytes(out))
            out.clear()
    if out:
        sink.write(bytes(out))
    return count


_BATCH = 1 << 16
