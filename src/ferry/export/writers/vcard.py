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
from ferry.export.writers.base import WriterOptions
from ferry.export.writers.contentline import block, escape

_ADR = ("street", "city", "state", "postal_code", "country")


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
        cats = _by_category(data)
        count = 0
        for row in data.rows:
            sink.write(block(card_lines(row, cats)))
            count += 1
        return count


def _first(row: dict[str, object], cats: dict[str, list[str]], *keys: str) -> str:
    for key in keys:
        for field in cats.get(key, ()):
            text = to_text(row.get(field)).strip()
            if text:
                return text
    return ""


def card_lines(row: dict[str, object], cats: dict[str, list[str]]) -> list[str]:
    first = _first(row, cats, "user.name.first")
    last = _first(row, cats, "user.name.last")
    full = _first(row, cats, "user.name", "user.name.full") or " ".join(
        p for p in (first, last) if p
    )
    lines = ["BEGIN:VCARD", "VERSION:4.0", f"FN:{escape(full or 'Unnamed contact')}"]
    lines.append(f"N:{escape(last)};{escape(first)};;;")
    for field in cats.get("user.contact.email", []):
        if text := to_text(row.get(field)).strip():
            lines.append(f"EMAIL:{escape(text)}")
    for field in cats.get("user.contact.phone_number", []):
        if text := to_text(row.get(field)).strip():
            lines.append(f"TEL;VALUE=text:{escape(text)}")
    if any(k.startswith("user.contact.address") for k in cats):
        parts = [escape(_first(row, cats, f"user.contact.address.{p}")) for p in _ADR]
        if any(parts):
            lines.append("ADR:;;" + ";".join(parts))
    born = next((row.get(f) for f in cats.get("user.demographic.date_of_birth", [])), None)
    if isinstance(born, date):
        day = born.date() if isinstance(born, datetime) else born
        lines.append(f"BDAY:{day.strftime('%Y%m%d')}")
    lines.append("END:VCARD")
    return lines
