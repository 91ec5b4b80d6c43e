"""vCard 4.0 (RFC 6350): one card per row of a contact dataset.

A dataset fits when the data map says ``model: contact``, or (without a hint) when its fields
hold a name and an email address or phone number (by their data categories). Properties come
from categories: ``user.name.*`` -> N/FN, ``user.contact.email`` -> EMAIL,
``user.contact.phone_number`` -> TEL, ``user.contact.address.*`` -> ADR,
``user.demographic.date_of_birth`` -> BDAY. Other fields stay in the JSON/CSV files.
"""

from __future__ import annotations

from datetime import date, datetime

from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import BytesSink
from ferry.export.schema import DatasetSchema
from ferry.export.values import to_text
from ferry.export.writers.base import WriterOptions, batches
from ferry.export.writers.columns import text_column
from ferry.export.writers.contentline import (
    Chunk,
    encode,
    escape,
    escape_column,
)

_ADR = ("street", "city", "state", "postal_code", "country")
CHUNK = 256  # cards built at a time (memory: this many rows and their cards)


def _by_category(data: DatasetRows) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for field, category in data.categories.items():
        if category:
            found.setdefault(category, []).append(field)
    return found


def is_contact(data: DatasetRows) -> bool:
    if data.model is not None:
        return data.model == "contact"
    cats = [c for c in data.categories.values() if c]
    named = any(c.startswith("user.name") for c in cats)
    reachable = any(c in ("user.contact.email", "user.contact.phone_number") for c in cats)
    return named and reachable


class VcardWriter:
    name = "vcard"
    extension = "vcf"
    media_type = "text/vcard"
    title = "vCard 4.0 (contacts: import into any address book)"

    def __init__(self, options: WriterOptions) -> None:
        self.options = options

    def fits(self, data: DatasetRows) -> bool:
        return is_contact(data)

    def write(self, sink: BytesSink, data: DatasetRows, schema: DatasetSchema) -> int:
        plan = _Plan(_by_category(data))
        count = 0
        for rows in batches(data.rows, CHUNK):
            count += len(rows)
            sink.write(encode(plan.cards(rows)))
        return count


def _column(rows: list[dict[str, object]], fields: tuple[str, ...]) -> list[str]:
    """Per row, the first of ``fields`` whose text (stripped) is not empty (see ``_first``)."""
    out = list(map(str.strip, text_column([row.get(fields[0]) for row in rows])))
    for field in fields[1:]:
        if "" not in out:
            break
        more = map(str.strip, text_column([row.get(field) for row in rows]))
        out = [a or b for a, b in zip(out, more, strict=True)]
    return out


def _first(row: dict[str, object], fields: tuple[str, ...]) -> str:
    for field in fields:
        value = row.get(field)
        text = (value if type(value) is str else to_text(value)).strip()
        if text:
            return text
    return ""


class _Plan:
    """Which fields feed which vCard property, worked out once per dataset."""

    def __init__(self, cats: dict[str, list[str]]) -> None:
        self.first = tuple(cats.get("user.name.first", ()))
        self.last = tuple(cats.get("user.name.last", ()))
        self.full = (*cats.get("user.name", ()), *cats.get("user.name.full", ()))
        self.emails = tuple(cats.get("user.contact.email", ()))
        self.phones = tuple(cats.get("user.contact.phone_number", ()))
        self.adr = tuple(tuple(cats.get(f"user.contact.address.{p}", ())) for p in _ADR)
        self.born = tuple(cats.get("user.demographic.date_of_birth", ()))
        self.any_adr = any(self.adr)

    def cards(self, rows: list[dict[str, object]]) -> str:
        """The cards of ``rows``, the same text as ``lines`` for each row, column by column."""
        size = len(rows)
        blank = [""] * size
        first = _column(rows, self.first) if self.first else blank
        last = _column(rows, self.last) if self.last else blank
        full = _column(rows, self.full) if self.full else blank
        if "" in full:
            full = [
                f or " ".join(p for p in (a, b) if p) or "Unnamed contact"
                for f, a, b in zip(full, first, last, strict=True)
            ]
        out = Chunk(size)
        out.const("BEGIN:VCARD\r\nVERSION:4.0\r\n")
        out.add(["FN:", escape_column(full)])
        if first is blank and last is blank:
            out.const("N:;;;;\r\n")
        else:  # "N:;;;;" when both are empty, as in ``lines``
            out.add(["N:", escape_column(last), ";", escape_column(first), ";;;"])
        for prefix, fields in (("EMAIL:", self.emails), ("TEL;VALUE=text:", self.phones)):
            for field in fields:
                values = _column(rows, (field,))
                skip = [not v for v in values] if "" in values else None
                out.add([prefix, escape_column(values)], skip)
        if self.any_adr:
            parts = [escape_column(_column(rows, f)) if f else blank for f in self.adr]
            skip = [not any(cell) for cell in zip(*parts, strict=True)]
            out.add(["ADR:;;", *_between(parts, ";")], skip if any(skip) else None)
        if self.born:
            out.column([_bday(row.get(self.born[0])) for row in rows])
        out.const("END:VCARD\r\n")
        return out.text()

    def lines(self, row: dict[str, object]) -> list[str]:
        first = _first(row, self.first) if self.first else ""
        last = _first(row, self.last) if self.last else ""
        full = _first(row, self.full) or " ".join(p for p in (first, last) if p)
        lines = [
            "BEGIN:VCARD",
            "VERSION:4.0",
            f"FN:{escape(full or 'Unnamed contact')}",
            f"N:{escape(last)};{escape(first)};;;" if first or last else "N:;;;;",
        ]
        for field in self.emails:
            if text := _first(row, (field,)):
                lines.append(f"EMAIL:{escape(text)}")
        for field in self.phones:
            if text := _first(row, (field,)):
                lines.append(f"TEL;VALUE=text:{escape(text)}")
        if self.any_adr:
            parts = [escape(_first(row, fields)) for fields in self.adr]
            if any(parts):
                lines.append("ADR:;;" + ";".join(parts))
        if self.born:
            self._bday(row, lines)
        lines.append("END:VCARD")
        return lines

    def _bday(self, row: dict[str, object], lines: list[str]) -> None:
        born = next((row.get(f) for f in self.born), None)
        if isinstance(born, date):
            day = born.date() if isinstance(born, datetime) else born
            lines.append(f"BDAY:{day.strftime('%Y%m%d')}")


def _between(parts: list[list[str]], sep: str) -> list[str | list[str]]:
    out: list[str | list[str]] = []
    for part in parts:
        if out:
            out.append(sep)
        out.append(part)
    return out


def _bday(born: object) -> str:
    if isinstance(born, date):
        day = born.date() if isinstance(born, datetime) else born
        return f"BDAY:{day.strftime('%Y%m%d')}\r\n"
    return ""
