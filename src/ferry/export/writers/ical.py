"""iCalendar (RFC 5545): one VEVENT per row of a dated dataset.

A dataset fits when the data map says ``model: event``, or (without a hint) when it has a
timestamp field and is not a contact list. DTSTART is the row's timestamp (UTC ``Z`` for
aware times, floating for naive ones, ``VALUE=DATE`` for dates); DESCRIPTION lists every
field; UID is stable (the same row gives the same UID in every package).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime

from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import BytesSink
from ferry.export.schema import DatasetSchema
from ferry.export.values import to_text
from ferry.export.writers.base import WriterOptions, batches
from ferry.export.writers.columns import Piece, text_column
from ferry.export.writers.contentline import (
    Chunk,
    block,
    encode,
    escape,
    escape_column,
    line_text,
    plain,
)
from ferry.export.writers.vcard import is_contact

CHUNK = 256  # events built at a time (memory: this many rows and their events)

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
        plan = _EventPlan(data, schema, self._stamp())
        sink.write(block(_HEAD))
        count = start = 0
        for rows in batches(data.rows, CHUNK):
            text, written = plan.events(rows, start)
            start += len(rows)
            count += written
            if written:
                sink.write(encode(text))
        sink.write(block(["END:VCALENDAR"]))
        return count

    def _stamp(self) -> str:
        made = self.options.stamp
        return ical_time(made if made.tzinfo else made.replace(tzinfo=UTC))[1]


def _text(value: object) -> str:
    return value if type(value) is str else to_text(value)


class _EventPlan:
    """What every event of a dataset shares, worked out once per dataset."""

    def __init__(self, data: DatasetRows, schema: DatasetSchema, stamp: str) -> None:
        self.timestamp = data.timestamp or ""
        self.names = tuple(f.name for f in schema.fields if f.name != data.timestamp)
        self.uid = hashlib.sha256(f"{data.system}\0{data.dataset}\0".encode())
        self.title = f"{data.dataset.replace('_', ' ')}: "
        self.dtstamp = f"DTSTAMP:{stamp}"
        self.categories = f"CATEGORIES:{escape(data.system)}"

    def events(self, rows: list[dict[str, object]], start: int) -> tuple[str, int]:
        """The VEVENTs of ``rows`` (the ``start``-th row first) and how many: the same text as
        ``lines`` for each dated row, built column by column."""
        raw = [row.get(self.timestamp) for row in rows]
        indices: Sequence[int] = range(start, start + len(rows))
        if set(map(type, raw)) == {datetime}:
            whens: list[datetime | date] = raw  # type: ignore[assignment]
        else:
            found = list(map(_when, raw))
            dated = [i for i, when in enumerate(found) if when is not None]
            if len(dated) < len(rows):  # an event without a date cannot go on a calendar
                rows = [rows[i] for i in dated]
                indices = [start + i for i in dated]
            whens = [when for when in found if when is not None]
        size = len(rows)
        if not size:
            return "", 0
        out = Chunk(size)
        out.const("BEGIN:VEVENT\r\n")
        out.add(["UID:", self._uids(indices), "@ferry"])
        out.const(line_text(self.dtstamp))
        out.add(_starts(whens))
        out.add(self._summaries(rows))
        out.add(self._descriptions(rows))
        out.const(line_text(self.categories) + "END:VEVENT\r\n")
        return out.text(), size

    def _uids(self, indices: Sequence[int]) -> list[str]:
        base, out = self.uid, []
        for index in indices:
            ident = base.copy()
            ident.update(b"%d" % index)
            out.append(ident.hexdigest()[:32])
        return out

    def _summaries(self, rows: list[dict[str, object]]) -> list[Piece]:
        first = [row.get(self.names[0]) for row in rows] if self.names else [""] * len(rows)
        if type(None) in set(map(type, first)):  # the first field shown, row by row
            first = [_shown(self.names, row) for row in rows]
        labels = text_column(first)
        if len(self.title) + max(map(len, labels)) > 200:  # cut to 200 characters, then escape
            return ["SUMMARY:", [escape(f"{self.title}{label}"[:200]) for label in labels]]
        return ["SUMMARY:" + escape(self.title), escape_column(labels)]

    def _descriptions(self, rows: list[dict[str, object]]) -> list[Piece]:
        pieces: list[Piece] = ["DESCRIPTION:"]
        for name in self.names:
            values = [row.get(name) for row in rows]
            texts = text_column(values)
            joined = "".join(texts)
            if type(None) in set(map(type, values)) or "\r" in joined:
                # A missing value leaves its field out; a CR at the end of a value would merge
                # with the next line break: both row by row, as ``lines`` does.
                return ["DESCRIPTION:", [escape(_details(self.names, row)) for row in rows]]
            label = ("\\n" if len(pieces) > 1 else "") + escape(name) + ": "
            pieces += [label, texts if plain(joined) else list(map(escape, texts))]
        return pieces

    def lines(self, row: dict[str, object], index: int, when: datetime | date) -> list[str]:
        """The content lines of one VEVENT: UID, DTSTAMP, DTSTART, SUMMARY, DESCRIPTION."""
        ident = self.uid.copy()
        ident.update(str(index).encode())
        params, start = ical_time(when)
        get = row.get
        shown = [(name, value) for name in self.names if (value := get(name)) is not None]
        label = _text(shown[0][1]) if shown else ""
        summary = f"{self.title}{label}"[:200]
        details = "\n".join([f"{n}: {_text(v)}" for n, v in shown])
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


def _shown(names: tuple[str, ...], row: dict[str, object]) -> object:
    """The first value that is not None (the SUMMARY label), or ``""``."""
    return next((v for n in names if (v := row.get(n)) is not None), "")


def _details(names: tuple[str, ...], row: dict[str, object]) -> str:
    get = row.get
    return "\n".join([f"{n}: {_text(v)}" for n in names if (v := get(n)) is not None])


def _starts(whens: list[datetime | date]) -> list[Piece]:
    """DTSTART of every event (as ``ical_time``): UTC or naive times in a few C calls."""
    size = len(whens)
    if set(map(type, whens)) == {datetime}:
        iso = "\0".join(map(datetime.isoformat, whens))  # type: ignore[arg-type]
        # Every value is at least 19 characters (25 with an offset); these lengths leave
        # only "YYYY-MM-DDTHH:MM:SS+00:00" (UTC: the same wall time) or the naive form.
        utc = len(iso) == 26 * size - 1 and iso.count("+00:00") == size
        if utc or len(iso) == 20 * size - 1:
            digits = iso.replace("-", "").replace(":", "").replace("+0000", "Z")
            return ["DTSTART:", digits.split("\0")]
    lines = []
    for when in whens:
        params, value = ical_time(when)
        lines.append(f"DTSTART{params}:{value}")
    return [lines]
