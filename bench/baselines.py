"""The same rows written directly with the standard library / orjson: the yardstick."""

from __future__ import annotations

import csv
import hashlib
import html
import io
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import orjson

from ferry.export.jsonenc import BytesSink

Rows = Iterable[dict[str, object]]


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def json_rows(sink: BytesSink, rows: Rows) -> None:
    sink.write(b'{"rows": [')
    first = True
    for row in rows:
        sink.write((b"\n" if first else b",\n") + orjson.dumps(row, default=str))
        first = False
    sink.write(b"\n]}\n")


def csv_rows(sink: BytesSink, rows: Rows) -> None:
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\r\n")
    for n, row in enumerate(rows):
        if n == 0:
            out.writerow(list(row))
        out.writerow([_text(v) for v in row.values()])
        if n % 512 == 511:
            sink.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    sink.write(buffer.getvalue().encode())


def xml_rows(sink: BytesSink, rows: Rows) -> None:
    sink.write(b"<?xml version='1.0' encoding='UTF-8'?>\n<dataset>")
    parts: list[str] = []
    for row in rows:
        cells = "".join(f"<{k}>{escape(_text(v))}</{k}>" for k, v in row.items() if v is not None)
        parts.append(f"\n<row>{cells}</row>")
        if len(parts) >= 512:
            sink.write("".join(parts).encode())
            parts.clear()
    sink.write(("".join(parts) + "\n</dataset>").encode())


def html_rows(sink: BytesSink, rows: Rows) -> None:
    sink.write(b"<!DOCTYPE html><html><body><table><tbody>\n")
    parts: list[str] = []
    for row in rows:
        cells = "".join(
            f'<td data-label="{html.escape(k)}">{html.escape(_text(v))}</td>'
            for k, v in row.items()
        )
        parts.append(f"<tr>{cells}</tr>\n")
        if len(parts) >= 256:
            sink.write("".join(parts).encode())
            parts.clear()
    sink.write(("".join(parts) + "</tbody></table></body></html>\n").encode())


# vCard and iCalendar: what a correct hand-written writer must do for RFC 6350 / RFC 5545 text
# values, no more: escape backslash, comma, semicolon and line breaks (CR LF, CR or LF are one
# line break, written as \\n) and drop the control characters the grammar does not allow; fold
# every content line longer than 75 octets (UTF-8 octets, not characters, and never inside a
# character); CRLF after every line; DTSTART in UTC. The cards and events are byte for byte the
# ones Ferry writes for the benchmark rows (``package_bench`` checks this before timing), so
# the UID is derived the same way (a SHA-256 of system, dataset and row number: stable and
# globally unique). The plain cheap checks first (one regular expression, ``isascii``, ``len``),
# since that is what anyone tuning a hand-written writer does.
_SPECIAL = re.compile("[\\\\,;\x00-\x1f\x7f]")
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def _esc(text: str) -> str:
    if _SPECIAL.search(text) is None:
        return text
    text = text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return _CONTROL.sub(" ", text)


def _fold(line: str) -> str:
    """One content line, folded at 75 octets without splitting a UTF-8 sequence (no CRLF)."""
    if line.isascii():
        if len(line) <= 75:
            return line
        return "\r\n ".join([line[:75], *(line[i : i + 74] for i in range(75, len(line), 74))])
    raw = line.encode("utf-8", "replace")
    parts, start, limit = [], 0, 75
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:
            end -= 1
        parts.append(raw[start:end].decode())
        start, limit = end, 74
    return "\r\n ".join(parts)


def ical_rows(sink: BytesSink, rows: Rows) -> None:
    """VEVENTs (UID, DTSTAMP, DTSTART, SUMMARY, DESCRIPTION, CATEGORIES) with plain strings."""
    sink.write(
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Ferry//Data export//EN\r\n"
        b"CALSCALE:GREGORIAN\r\n"
    )
    uid = hashlib.sha256(b"shop\0orders\0")
    parts: list[str] = []
    for index, row in enumerate(rows):
        when = row["placed_at"]
        assert isinstance(when, datetime)
        if when.tzinfo is not UTC:
            when = when.astimezone(UTC)
        ident = uid.copy()
        ident.update(str(index).encode())
        desc = _esc("\n".join(f"{k}: {_text(v)}" for k, v in row.items() if k != "placed_at"))
        parts.append(
            f"BEGIN:VEVENT\r\n{_fold(f'UID:{ident.hexdigest()[:32]}@ferry')}\r\n"
            f"DTSTAMP:20240101T000000Z\r\nDTSTART:{when:%Y%m%dT%H%M%SZ}\r\n"
            f"{_fold('SUMMARY:' + _esc('orders: ' + str(row['id'])))}\r\n"
            f"{_fold('DESCRIPTION:' + desc)}\r\nCATEGORIES:shop\r\nEND:VEVENT\r\n"
        )
        if len(parts) >= 256:
            sink.write("".join(parts).encode())
            parts.clear()
    sink.write(("".join(parts) + "END:VCALENDAR\r\n").encode())


def vcard_rows(sink: BytesSink, rows: Rows) -> None:
    """The same cards (FN, N, EMAIL) with plain strings."""
    parts: list[str] = []
    for row in rows:
        name, email = _esc(str(row["name"])), _esc(str(row["email"]))
        parts.append(
            f"BEGIN:VCARD\r\nVERSION:4.0\r\n{_fold('FN:' + name)}\r\nN:;;;;\r\n"
            f"{_fold('EMAIL:' + email)}\r\nEND:VCARD\r\n"
        )
        if len(parts) >= 512:
            sink.write("".join(parts).encode())
            parts.clear()
    sink.write("".join(parts).encode())


BASELINES = {
    "vcard": vcard_rows,
    "json": json_rows,
    "csv": csv_rows,
    "xml": xml_rows,
    "html": html_rows,
    "ical": ical_rows,
}
