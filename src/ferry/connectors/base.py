"""The connector protocol: read-only access to one client system."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from ferry.collect.datamap import DataMap, DatasetMap
from ferry.collect.scan import TableInfo
from ferry.domain.errors import FerryError

Row = dict[str, object]


class ConnectorError(FerryError):
    """A client system could not be read (unreachable, missing table, driver error)."""

    code = "connector_error"
    status = 502


@runtime_checkable
class Connector(Protocol):
    """Reads rows of a mapped dataset; never writes."""

    def fetch(self, dataset: DatasetMap, column: str, values: Sequence[object]) -> Iterator[Row]:
        """Yield the dataset's rows whose ``column`` is one of ``values``."""
        ...

    def check(self, datamap: DataMap | None = None) -> list[str]:
        """Problems reaching the system or, given a map, its missing tables and columns."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class Describable(Protocol):
    """A connector that can list its tables for ``ferry system scan``."""

    def describe(self, sample: int = 30) -> list[TableInfo]:
        """Tables with columns, keys, foreign keys and a few sampled values per column."""
        ...
