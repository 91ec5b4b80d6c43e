"""What each dataset looks like: its fields, their Table Schema types, categories and provenance.

Computed once per dataset and shared by the XML writer (its XSD), ``datapackage.json`` and the
filters. Types come from the values themselves: a column whose values are all integers is
``integer``; mixed columns fall back to ``string``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import dataset_fields
from ferry.export.values import merge_types, value_type

DERIVED_MARKERS = ("derived", "inferred")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str  # Table Schema type: string, integer, number, boolean, date, datetime, ...
    category: str | None
    provenance: str  # provided, observed, derived, or unknown
    xml_name: str  # the element name used in XML (a valid XML name, unique in the dataset)


@dataclass(frozen=True)
class DatasetSchema:
    fields: tuple[FieldInfo, ...]

    def field(self, name: str) -> FieldInfo | None:
        return next((f for f in self.fields if f.name == name), None)


def provenance_of(data: DatasetRows, name: str, category: str | None) -> str:
    """Where a field's value comes from: the map says, else the category's name hints."""
    said = data.provenance.get(name)
    if said:
        return said
    parts = (category or "").split(".")
    return "derived" if any(m in parts for m in DERIVED_MARKERS) else "unknown"


def _column_type(data: DatasetRows, name: str) -> str:
    kinds = {type(row.get(name)) for row in data.rows}
    found: str | None = None
    for kind in kinds:
        if kind is type(None):
            continue
        if kind is Decimal and not all(
            v.is_finite() for r in data.rows if isinstance(v := r.get(name), Decimal)
        ):
            return "string"
        sample = next(r.get(name) for r in data.rows if type(r.get(name)) is kind)
        found = merge_types(found, value_type(sample))
    return found or "string"


def xml_name(name: str) -> str:
    """A valid XML element name for a field name (not starting with ``xml``)."""
    text = _NOT_NAME.sub("_", name) or "field"
    if not (text[0].isalpha() or text[0] == "_") or text.lower().startswith("xml"):
        text = "_" + text
    return text


def infer_schema(data: DatasetRows) -> DatasetSchema:
    taken: set[str] = {"row"}
    fields = []
    for name, category in dataset_fields(data).items():
        base = xml_name(name)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        fields.append(
            FieldInfo(
                name=name,
                type=_column_type(data, name),
                category=category,
                provenance=provenance_of(data, name, category),
                xml_name=candidate,
            )
        )
    return DatasetSchema(tuple(fields))
