"""iCalendar (RFC 5545): one VEVENT per row of a dated dataset.

A dataset fits when the data map says ``model: event``, or (without a hint) when it has a
timestamp field and is not a contact list. DTSTART is the row's timestamp (UTC ``Z`` for
aware times, floating for naive ones, ``VALUE=DATE`` for dates); DESCRIPTION lists every
field; UID is stable (the same row gives the same UID in every package).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime

from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import BytesSink
from ferry.export.schema import DatasetSchema
from ferry.export.values import to_text
from ferry.export.writers.base import WriterOptions
from ferry.export.writers.contentline import block, escape
from ferry.export.writers.vcard import is_contact

_HEAD = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Ferry//Data export//EN", "CALSCALE:GREGORIAN"]


def is_event(data: DatasetRows) -> bool:
    if data.model is not None:
        return data.model == "event"
    return data.timestamp is not None and not is_contact(data)


def ical_time(value: datetime | date) -> tuple[str, str]:
    """``(parameters, value)`` for a DTSTART."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return "", _stamp(value.astimezone(UTC)) + "Z"
        return "", _stamp(value)
    return ";VALUE=DATE", f"{value.year:04d}{value.month:02d}{value.day:02d}"


def _stamp(v: datetime) -> str:
    return f"{v.year:04d}{v.month:02d}{v.day:02d}T{v.hour:02d}{v.minute:02d}{v.second:02d}"


def _when(value: object) -> datetime | date | None:
    if isinstance(value, datetime | date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


class IcalWriter:
    name = "ical"
    extension = "ics"
    media_type = "text/calendar"
    title = "iCalendar (dated events: import into any calendar)"

    def __init__(self, options: WriterOptions) -> None:
        self.options = options

    def fits(self, data: DatasetRows) -> bool:
        stamp = data.timestamp
        if stamp is None or not is_event(data):
            return False
        return stamp in data.categories or stamp in next(iter(data.rows), {})

    def write(self, sink: BytesSink, data: DatasetRows, schema: DatasetSchema) -> int:
        made = self.options.stamp
        stamp = ical_time(made if made.tzinfo else made.replace(tzinfo=UTC))[1]
        sink.write(block(_HEAD))
        count = 0
        for index, row in enumerate(data.rows):
            when = _when(row.get(data.timestamp or ""))
            if when is None:
                continue  # an event without a date cannot go on a calendar; JSON/CSV keep it
            sink.write(block(event_lines(data, schema, row, index, when, stamp)))
            count += 1
        sink.write(block(["END:VCALENDAR"]))
        return count


def event_lines(
    data: DatasetRows,
    schema: DatasetSchema,
    row: dict[str, object],
    index: int,
    when: datetime | date,
    stamp: str,
) -> list[str]:
    ident = hashlib.sha256(f"{data.system}\0{data.dataset}\0{index}".encode()).hexdigest()[:32]
    params, start = ical_time(when)
    shown = [f for f in schema.fields if f.name != data.timestamp and row.get(f.name) is not None]
    label = to_text(row.get(shown[0].name)) if shown else ""
    summary = f"{data.dataset.replace('_', ' ')}: {label}"[:200]
    details = "\n".join(f"{f.name}: {to_text(row.get(f.name))}" for f in shown)
    return [
        "BEGIN:VEVENT",
        f"UID:{ident}@ferry",
        f"DTSTAMP:{stamp}",
        f"DTSTART{params}:{start}",
        f"SUMMARY:{escape(summary)}",
        f"DESCRIPTION:{escape(details)}",
        f"CATEGORIES:{escape(data.system)}",
        "END:VEVENT",
    ]
