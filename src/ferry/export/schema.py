"""What each dataset looks like: its fields, their Table Schema types, categories and provenance.

Computed once per dataset and shared by the XML writer (its XSD), ``datapackage.json`` and the
filters. Types come from the values themselves: a column whose values are all integers is
``integer``; mixed columns fall back to ``string``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import cached_property, lru_cache
from itertools import islice
from operator import itemgetter, methodcaller

from ferry.domain.models import DatasetRows
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
    has_float: bool = False  # some value is a float (could be NaN or infinite)
    simple: bool = False  # every value is text, a number, a boolean, a date/time or missing


@dataclass(frozen=True)
class DatasetSchema:
    """A dataset's fields. The views below are computed once per schema: ``infer_schema``
    hands out the same schema object for datasets of the same shape (see ``_schema``), so
    the writers and guides of every package read them without recomputing."""

    fields: tuple[FieldInfo, ...]

    def field(self, name: str) -> FieldInfo | None:
        return next((f for f in self.fields if f.name == name), None)

    @cached_property
    def simple(self) -> bool:
        return all(f.simple for f in self.fields)

    @cached_property
    def float_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.has_float)

    @cached_property
    def categories(self) -> tuple[str | None, ...]:
        """Each field's category, in field order."""
        return tuple(f.category for f in self.fields)

    @cached_property
    def field_categories(self) -> tuple[tuple[str, str | None], ...]:
        """``(name, category)`` of each field, in field order."""
        return tuple((f.name, f.category) for f in self.fields)


def provenance_of(data: DatasetRows, name: str, category: str | None) -> str:
    """Where a field's value comes from: the map says, else the category's name hints."""
    return data.provenance.get(name) or _hinted(category)


@lru_cache(maxsize=1024)
def _hinted(category: str | None) -> str:
    """``derived`` when a part of the category's name says so, else ``unknown`` (cached)."""
    parts = (category or "").split(".")
    return "derived" if any(m in parts for m in DERIVED_MARKERS) else "unknown"


def _types(rows: list[dict[str, object]], name: str) -> set[type]:
    """The value types of one column (C-level loops: this runs over every row)."""
    try:
        return set(map(type, map(itemgetter(name), rows)))
    except KeyError:  # some rows lack the field: it is missing there
        return set(map(type, map(methodcaller("get", name), rows)))


_SIMPLE = frozenset({str, int, float, bool, type(None), Decimal, datetime, date, time})
_CHUNK = 1024  # rows looked at together: column loops stay in C, memory stays bounded


def _bad_decimal(rows: list[dict[str, object]], name: str) -> bool:
    values = map(methodcaller("get", name), rows)
    return not all(v.is_finite() for v in values if type(v) is Decimal)


class _Scan:
    """Every field of a dataset (in order of first appearance) and the types of its values,
    from ONE pass over the rows, chunk by chunk: spooled rows are read from disk only once."""

    def __init__(self, data: DatasetRows) -> None:
        self.fields: dict[str, str | None] = dict(data.categories)
        self.kinds: dict[str, set[type]] = {name: set() for name in self.fields}
        self.bad_decimal: set[str] = set()
        rows = iter(data.rows)
        seen = False
        while chunk := list(islice(rows, _CHUNK)):
            self._chunk(chunk, seen)
            if len(chunk) < _CHUNK:  # the rows ran out: asking again would only say so
                break
            seen = True

    def _chunk(self, chunk: list[dict[str, object]], seen: bool) -> None:
        known = self.fields.keys()
        for row in chunk:
            if row.keys() <= known:  # the usual case, checked in C
                continue
            for key in row:
                if key not in self.fields:
                    self.fields[str(key)] = None
                    self.kinds[str(key)] = {type(None)} if seen else set()  # missing before
        for name, kinds in self.kinds.items():
            found = _types(chunk, name)
            kinds |= found
            if Decimal in found and name not in self.bad_decimal and _bad_decimal(chunk, name):
                self.bad_decimal.add(name)


def _column(kinds: frozenset[type], bad_decimal: bool) -> tuple[str, bool, bool]:
    """(type, holds floats, simple) for a column's value types."""
    has_float = any(issubclass(k, float) for k in kinds)
    return _merged(kinds, bad_decimal), has_float, kinds <= _SIMPLE


_SAMPLES: dict[type, object] = {
    bool: True,
    int: 0,
    float: 0.0,
    Decimal: Decimal(0),
    datetime: datetime(2000, 1, 1),
    date: date(2000, 1, 1),
    time: time(0),
    timedelta: timedelta(0),
    dict: {},
    list: [],
    tuple: (),
}


def _merged(kinds: frozenset[type], bad_decimal: bool) -> str:
    """The column type for a set of value types."""
    found: str | None = None
    for kind in kinds - {type(None)}:
        if kind is Decimal and bad_decimal:
            return "string"
        sample = next((v for k, v in _SAMPLES.items() if issubclass(kind, k)), "")
        found = merge_types(found, value_type(sample))
    return found or "string"


@lru_cache(maxsize=4096)
def xml_name(name: str) -> str:
    """A valid XML element name for a field name (not starting with ``xml``)."""
    text = _NOT_NAME.sub("_", name) or "field"
    if not (text[0].isalpha() or text[0] == "_") or text.lower().startswith("xml"):
        text = "_" + text
    return text


def infer_schema(data: DatasetRows) -> DatasetSchema:
    """The dataset's schema from one pass over its rows (``_Scan``). The rest is a pure
    function of what the pass found and of the map's provenance, so it is cached: the same
    datasets come back request after request, and a small dataset's schema is then mostly
    the pass itself."""
    scan = _Scan(data)
    return _schema(
        tuple(scan.fields.items()),
        tuple(map(frozenset, scan.kinds.values())),
        frozenset(scan.bad_decimal),
        tuple(data.provenance.items()),
    )


@lru_cache(maxsize=1024)
def _schema(
    columns: tuple[tuple[str, str | None], ...],
    kinds: tuple[frozenset[type], ...],
    bad_decimal: frozenset[str],
    provenance: tuple[tuple[str, str], ...],
) -> DatasetSchema:
    """The schema from each column's name and category, the types of its values (in the same
    order), the columns with a NaN or infinite decimal, and the map's provenance per field."""
    given = dict(provenance)
    taken: set[str] = {"row"}
    fields = []
    for (name, category), found in zip(columns, kinds, strict=True):
        kind, has_float, simple = _column(found, name in bad_decimal)
        base = xml_name(name)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        fields.append(
            FieldInfo(
                name=name,
                type=kind,
                category=category,
                provenance=given.get(name) or _hinted(category),
                xml_name=candidate,
                has_float=has_float,
                simple=simple,
            )
        )
    return DatasetSchema(tuple(fields))
