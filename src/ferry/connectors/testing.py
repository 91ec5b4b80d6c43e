"""In-memory connector test double: ``{dataset name: [row, ...]}``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from ferry.collect.datamap import DataMap, DatasetMap
from ferry.connectors.base import ConnectorError, Row


def _same(a: object, b: object) -> bool:
    """Loose equality like a database comparing a column with a bound value."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b or str(a) == str(b)


class InMemoryConnector:
    """Serves rows from dicts and records every fetch in ``calls``."""

    def __init__(self, data: Mapping[str, Sequence[Mapping[str, object]]]) -> None:
        self.data = data
        self.calls: list[tuple[str, str, tuple[object, ...]]] = []
        self.closed = False

    def fetch(self, dataset: DatasetMap, column: str, values: Sequence[object]) -> Iterator[Row]:
        """Yield copies of rows whose ``column`` equals one of ``values``."""
        if dataset.name not in self.data:
            raise ConnectorError(f"dataset {dataset.name!r}: table {dataset.table!r} not found")
        self.calls.append((dataset.name, column, tuple(values)))
        wanted = dataset.columns_needed()
        for row in self.data[dataset.name]:
            if column in row and any(_same(row[column], v) for v in values if v is not None):
                yield {k: v for k, v in row.items() if wanted is None or k in wanted}

    def check(self, datamap: DataMap | None = None) -> list[str]:
        """Missing datasets and columns (a column exists if any row has it)."""
        if datamap is None:
            return []
        problems = []
        for ds in datamap.datasets.values():
            rows = self.data.get(ds.name)
            if rows is None:
                problems.append(f"dataset {ds.name!r}: table {ds.table!r} not found")
                continue
            have = {k for row in rows for k in row}
            missing = [c for c in dict.fromkeys([*ds.key_columns(), *ds.fields]) if c not in have]
            if rows and missing:
                cols = ", ".join(repr(c) for c in missing)
                problems.append(f"dataset {ds.name!r}: table {ds.table!r} has no column {cols}")
        return problems

    def close(self) -> None:
        self.closed = True
