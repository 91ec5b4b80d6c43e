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
from functools import lru_cache
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
    fields: tuple[FieldInfo, ...]

    def field(self, name: str) -> FieldInfo | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def simple(self) -> bool:
        return all(f.simple for f in self.fields)

    @property
    def float_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.has_float)


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

    def column_types(self) -> dict[str, tuple[str, bool, bool]]:
        """Each column's type, whether it holds floats, and whether its values are simple."""
        bad = self.bad_decimal
        return {name: _column(frozenset(kinds), name in bad) for name, kinds in self.kinds.items()}


@lru_cache(maxsize=1024)
def _column(kinds: frozenset[type], bad_decimal: bool) -> tuple[str, bool, bool]:
    """(type, holds floats, simple) for a column's value types (a pure function: cached)."""
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
    scan = _Scan(data)
    types = scan.column_types()
    provenance = {name: provenance_of(data, name, cat) for name, cat in scan.fields.items()}
    return _schema(tuple((n, c, types[n], provenance[n]) for n, c in scan.fields.items()))


@lru_cache(maxsize=1024)
def _schema(
    columns: tuple[tuple[str, str | None, tuple[str, bool, bool], str], ...],
) -> DatasetSchema:
    """The schema from each column's name, category, (type, has_float, simple) and provenance:
    a pure function of those, cached (the same datasets come back request after request)."""
    taken: set[str] = {"row"}
    fields = []
    for name, category, (kind, has_float, simple), provenance in columns:
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
                provenance=provenance,
                xml_name=candidate,
                has_float=has_float,
                simple=simple,
            )
        )
    return DatasetSchema(tuple(fields))
