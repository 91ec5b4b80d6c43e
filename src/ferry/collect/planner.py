"""Collect one person's rows from one system by walking its data map.

The walk starts at datasets keyed by the request's identities and follows references only
"down", from a referenced dataset to the datasets that point at it (customers -> orders ->
order_items), never "up" (an order's ``employee_id`` does not pull the employee: that is
another person). Identity columns of fetched rows yield new identities that key further
lookups. It is a fixed-point loop over ``(dataset, column, new values)``, so cycles and
diamonds fetch each value once. Scope is applied at the end.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING

from ferry.collect.datamap import DataMap, DatasetMap
from ferry.domain.errors import InvalidInput
from ferry.domain.models import DatasetRows, Identity, IdentityType, Scope

if TYPE_CHECKING:
    from ferry.connectors.base import Connector, Row

Lookup = tuple[str, str]  # (dataset name, column)


@dataclass
class CollectionResult:
    """What one system holds on the person, after scope."""

    system: str
    datasets: list[DatasetRows] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    discovered: list[Identity] = field(default_factory=list)
    skipped: bool = False  # the scope leaves this system out

    @property
    def row_count(self) -> int:
        return sum(len(d.rows) for d in self.datasets)


def reachable(datamap: DataMap, identity_types: set[IdentityType]) -> list[str]:
    """Datasets an identity of these types, or a reference from them, can reach (map order)."""
    types = set(identity_types)
    found: set[str] = set()
    grew = True
    while grew:
        before = len(found), len(types)
        for ds in datamap.datasets.values():
            if ds.name not in found and types & set(ds.identities):
                found.add(ds.name)
        for name in list(found):
            found.update(child.name for child, _ in datamap.children(name))
        for name in found:
            types.update(datamap.datasets[name].identities)
        grew = (len(found), len(types)) != before
    return [name for name in datamap.datasets if name in found]


def _row_key(ds: DatasetMap, row: Row) -> Hashable:
    keys = tuple(row.get(k) for k in ds.primary_key)
    if keys and all(k is not None for k in keys) and all(isinstance(k, Hashable) for k in keys):
        return keys
    return tuple(sorted((k, repr(v)) for k, v in row.items()))


class _Walk:
    """State of one collection: rows per dataset, values already looked up, identities."""

    def __init__(self, connector: Connector, datamap: DataMap, identities: list[Identity]):
        self.connector = connector
        self.map = datamap
        self.rows: dict[str, dict[Hashable, Row]] = {name: {} for name in datamap.datasets}
        self.seen: dict[Lookup, set[object]] = {}
        self.pending: dict[Lookup, list[object]] = {}
        self.known: dict[Identity, None] = dict.fromkeys(identities)
        self.discovered: list[Identity] = []
        for identity in identities:
            self._queue_identity(identity)

    def _queue(self, lookup: Lookup, value: object) -> None:
        if value is None or not isinstance(value, Hashable):
            return
        if value in self.seen.setdefault(lookup, set()):
            return
        self.seen[lookup].add(value)
        self.pending.setdefault(lookup, []).append(value)

    def _queue_identity(self, identity: Identity) -> None:
        for ds in self.map.keyed_by(identity.type):
            self._queue((ds.name, ds.identities[identity.type]), identity.value)

    def run(self) -> None:
        while self.pending:
            lookup = next(iter(self.pending))
            values = self.pending.pop(lookup)
            ds = self.map.datasets[lookup[0]]
            for row in self.connector.fetch(ds, lookup[1], values):
                self._take(ds, row)

    def _take(self, ds: DatasetMap, row: Row) -> None:
        key = _row_key(ds, row)
        if key in self.rows[ds.name]:
            return
        self.rows[ds.name][key] = row
        for child, ref in self.map.children(ds.name):
            self._queue((child.name, ref.field), row.get(ref.to_field))
        for kind, column in ds.identities.items():
            value = row.get(column)
            if value is None or isinstance(value, bool) or str(value).strip() == "":
                continue
            found = _identity(kind, str(value))
            if found not in self.known:
                self.known[found] = None
                self.discovered.append(found)
                self._queue_identity(found)


def _identity(kind: IdentityType, value: str) -> Identity:
    """Normalised like a requested identity when valid (email domains lower-cased)."""
    try:
        return Identity.parse(kind.value, value)
    except InvalidInput:
        return Identity(kind, value.strip())


def _as_date(value: object) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.strip()).date()
        except ValueError:
            return None
    return None


def _categories(ds: DatasetMap, rows: list[Row]) -> dict[str, str | None]:
    if ds.fields_only:
        return dict(ds.fields)
    columns = dict.fromkeys([*ds.fields, *(k for row in rows for k in row)])
    return {c: ds.category_of(c) for c in columns}


def _scoped(system: str, ds: DatasetMap, rows: list[Row], scope: Scope) -> DatasetRows | None:
    """The dataset's rows in date range, trimmed to covered fields; None if no field is left."""
    categories = {c: cat for c, cat in _categories(ds, rows).items() if scope.covers_category(cat)}
    if not categories:
        return None
    ts = ds.timestamp
    kept = [r for r in rows if not ts or scope.covers_date(_as_date(r.get(ts)))]
    trimmed = [{c: row.get(c) for c in categories} for row in kept]
    return DatasetRows(system=system, dataset=ds.name, categories=categories, rows=trimmed)


def collect(
    connector: Connector, datamap: DataMap, identities: list[Identity], scope: Scope
) -> CollectionResult:
    """Everything ``datamap.system`` holds on the person identified by ``identities``."""
    result = CollectionResult(system=datamap.system)
    if not scope.covers_system(datamap.system):
        result.skipped = True
        return result
    types = {i.type for i in identities}
    reach = set(reachable(datamap, types))
    result.unreachable = [name for name in datamap.datasets if name not in reach]
    walk = _Walk(connector, datamap, identities)
    walk.run()
    result.discovered = walk.discovered
    for name, ds in datamap.datasets.items():
        scoped = _scoped(datamap.system, ds, list(walk.rows[name].values()), scope)
        if scoped is not None:
            result.datasets.append(scoped)
    return result
