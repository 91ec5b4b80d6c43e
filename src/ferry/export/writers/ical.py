"""iCalendar (RFC 5545): one VEVENT per row of a dated dataset.

A dataset fits when the data map says ``model: event``, or (without a hint) when it has a
timestamp field and is not a contact list. DTSTART is the row's timestamp (UTC ``Z`` for
aware times, floating for naive ones, ``VALUE=DATE`` for dates); DESCRIPTION lists every
field; UID is stable (the same row gives the same UID in every package).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, date, datetime

from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import BytesSink
from ferry.export.schema import DatasetSchema
from ferry.export.values import to_text
from ferry.export.writers.base import WriterOptions
from ferry.export.writers.contentline import block, escape, write_blocks
from ferry.export.writers.vcard import is_contact

_HEAD = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Ferry//Data export//EN", "CALSCALE:GREGORIAN"]


def is_event(data: DatasetRows) -> bool:
    if data.model is not None:
        return data.model == "event"
    return data.timestamp is not None and not is_contact(data)


def ical_time(value: datetime | date) -> tuple[str, str]:
    """``(parameters, value)`` for a DTSTART."""
    if isinstance(value, datetime):
        if value.tzinfo is UTC:  # already UTC: no conversion needed
            return "", _stamp(value) + "Z"
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
        count = write_blocks(sink, self._events(data, schema, stamp))
        sink.write(block(["END:VCALENDAR"]))
        return count

    def _events(self, data: DatasetRows, schema: DatasetSchema, stamp: str) -> Iterator[bytes]:
        plan = _EventPlan(data, schema, stamp)
        for index, row in enumerate(data.rows):
            when = _when(row.get(data.timestamp or ""))
            if when is None:
                continue  # an event without a date cannot go on a calendar; JSON/CSV keep it
            yield block(plan.lines(row, index, when))


def _text(value: object) -> str:
    return value if type(value) is str else to_text(value)


class _EventPlan:
    """What every event of a dataset shares, worked out once per dataset."""

    def __init__(self, data: DatasetRows, schema: DatasetSchema, stamp: str) -> None:
        self.names = tuple(f.name for f in schema.fields if f.name != data.timestamp)
        self.uid = hashlib.sha256(f"{data.system}\0{data.dataset}\0".encode())
        self.title = f"{data.dataset.replace('_', ' ')}: "
        self.dtstamp = f"DTSTAMP:{stamp}"
        self.categories = f"CATEGORIES:{escape(data.system)}"

    def lines(self, row: dict[str, object], index: int, when: datetime | date) -> list[str]:
        """The content lines of one VEVENT: UID, DTSTAMP, DTSTART, SUMMARY, DESCRIPTION."""
        ident = self.uid.copy()
        ident.update(str(index).encode())
        params, start = ical_time(when)
        get = row.get
        shown = [(name, value) for name in self.names if (value := get(name)) is not None]
        label = _text(shown[0][1]) if shown else ""
        summary = f"{self.title}{label}"[:200]
        details = "\n".join(
            [f"{n}: {v if type(v) is str else to_text(v)}" for n, v in shown]  # no call for text
        )
        return [
            "BEGIN:VEVENT",
            f"UID:{ident.hexdigest()[:32]}@ferry",
            self.dtstamp,
            f"DTSTART{params}:{start}",
            f"SUMMARY:{escape(summary)}",
            f"DESCRIPTION:{escape(details)}",
            self.categories,
            "END:VEVENT",
        ]


def event_lines(
    data: DatasetRows,
    schema: DatasetSchema,
    row: dict[str, object],
    index: int,
    when: datetime | date,
    stamp: str,
) -> list[str]:
    """The content lines of one event (see the module docstring)."""
    return _EventPlan(data, schema, stamp).lines(row, index, when)
