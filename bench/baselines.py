"""The same rows written directly with the standard library / orjson: the yardstick."""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Iterable
from datetime import datetime
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


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")


def _fold(line: str) -> str:
    if len(line) <= 75:
        return line + "\r\n"
    return "\r\n ".join(line[i : i + 74] for i in range(0, len(line), 74)) + "\r\n"


def ical_rows(sink: BytesSink, rows: Rows) -> None:
    """The same VEVENTs (UID, DTSTAMP, DTSTART, SUMMARY, DESCRIPTION) with plain strings."""
    sink.write(b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\n")
    for row in rows:
        when = row["placed_at"]
        assert isinstance(when, datetime)
        desc = _esc("\n".join(f"{k}: {_text(v)}" for k, v in row.items() if k != "placed_at"))
        lines = [
            "BEGIN:VEVENT",
            f"UID:{row['id']}@bench",
            "DTSTAMP:20240101T000000Z",
            f"DTSTART:{when:%Y%m%dT%H%M%SZ}",
            _fold(f"SUMMARY:orders: {row['id']}")[:-2],
            _fold(f"DESCRIPTION:{desc}")[:-2],
            "END:VEVENT",
        ]
        sink.write(("\r\n".join(lines) + "\r\n").encode())
    sink.write(b"END:VCALENDAR\r\n")


def vcard_rows(sink: BytesSink, rows: Rows) -> None:
    """The same cards (FN, N, EMAIL) with plain strings."""
    for row in rows:
        name = _esc(str(row["name"]))
        text = (
            f"BEGIN:VCARD\r\nVERSION:4.0\r\nFN:{name}\r\nN:;{name};;;\r\n"
            f"EMAIL:{_esc(str(row['email']))}\r\nEND:VCARD\r\n"
        )
        sink.write(text.encode())


BASELINES = {
    "vcard": vcard_rows,
    "json": json_rows,
    "csv": csv_rows,
    "xml": xml_rows,
    "html": html_rows,
    "ical": ical_rows,
}
