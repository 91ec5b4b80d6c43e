"""Row-by-row reference writers for vCard, iCalendar and XML.

Ferry's writers build their output a batch of rows at a time (``ferry.export.writers``); these
are the plain one-row-at-a-time forms the tests hold them to, byte for byte. They live with the
tests because nothing in Ferry writes this way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import BytesSink
from ferry.export.schema import DatasetSchema
from ferry.export.writers import ical, vcard, xmlw
from ferry.export.writers.contentline import block


def write_blocks(sink: BytesSink, blocks: Iterable[bytes], size: int = 1 << 16) -> int:
    """Write blocks (cards, events) about ``size`` bytes at a time; returns how many."""
    out = bytearray()
    count = 0
    for item in blocks:
        out += item
        count += 1
        if len(out) >= size:
            sink.write(bytes(out))
            out.clear()
    if out:
        sink.write(bytes(out))
    return count


def vcard_rows(sink: BytesSink, data: DatasetRows) -> int:
    """The cards one row at a time."""
    plan = vcard._Plan(vcard._by_category(data))
    return write_blocks(sink, (block(plan.lines(row)) for row in data.rows))


def ical_rows(
    writer: ical.IcalWriter, sink: BytesSink, data: DatasetRows, schema: DatasetSchema
) -> int:
    """The events one row at a time."""
    sink.write(block(ical._HEAD))
    count = write_blocks(sink, _events(data, schema, writer._stamp()))
    sink.write(block(["END:VCALENDAR"]))
    return count


def _events(data: DatasetRows, schema: DatasetSchema, stamp: str) -> Iterator[bytes]:
    plan = ical._EventPlan(data, schema, stamp)
    for index, row in enumerate(data.rows):
        when = ical._when(row.get(data.timestamp or ""))
        if when is not None:  # an event without a date cannot go on a calendar
            yield block(plan.lines(row, index, when))


def xml_rows(sink: BytesSink, data: DatasetRows, schema: DatasetSchema) -> int:
    """The rows one at a time."""
    tags = [(f.name, f.xml_name, f"<{f.xml_name}>", f"</{f.xml_name}>") for f in schema.fields]
    system, name = xmlw._attr(data.system), xmlw._attr(data.dataset)
    parts = [f"<?xml version='1.0' encoding='UTF-8'?>\n<dataset system={system} name={name}>"]
    count = 0
    for row in data.rows:
        _row(parts, row, tags)
        count += 1
    sink.write(("".join(parts) + "\n</dataset>\n").encode("utf-8"))
    return count


def _row(parts: list[str], row: dict[str, object], tags: list[tuple[str, str, str, str]]) -> None:
    """Append one ``<row>`` element's text to ``parts``."""
    parts.append("\n<row>")
    for name, tag, opening, closing in tags:
        value = row.get(name)
        if value is None:
            continue
        if type(value) is str and not xmlw._NEEDS_WORK.search(value):
            text = value  # plain text: nothing to escape
        else:
            text, encoded = xmlw._escaped(value)
            if encoded:
                parts.append(f'<{tag} encoding="base64">{text}</{tag}>')
                continue
        parts.append(opening + text + closing)
    parts.append("</row>")
