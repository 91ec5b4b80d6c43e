"""Manual systems: no access, the system owner uploads the person's records.

A system at ``manual:`` (or ``manual://OWNER-EMAIL``) is read from the files its owner uploaded
for one request, with the file connector's parsing and checks. Opened without uploads (bulk mode,
a scan) it is an error, never an empty result.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ferry.collect.datamap import DataMap, DatasetMap
from ferry.connectors.base import ConnectorError, Row
from ferry.connectors.files import FileConnector, FileSource, _Reader

SCHEME = "manual:"
TASK_OPTIONS = ("due_days",)
"""``connection:`` settings of a manual system that concern its task, not the file format."""


def owner_of(url: str) -> str | None:
    """The owner's email in ``manual://OWNER-EMAIL``, or None for a bare ``manual:``."""
    rest = url.strip().removeprefix(SCHEME).lstrip("/")
    return rest or None


WAITING = "waiting for the system owner's upload (`ferry request tasks ID`)"
_ALONE = (
    "a manual system is read from its owner's upload for one request; "
    "collect the request on its own with `ferry request run ID`"
)


class ManualConnector(FileConnector):
    """Reads uploaded files: ``{dataset name: path}``, all in one folder; given a message
    instead (nothing uploaded yet) or None (no request: bulk, a scan), every fetch fails."""

    def __init__(
        self, files: Mapping[str, Path] | str | None, connection: dict[str, Any] | None = None
    ) -> None:
        self.missing = _ALONE if files is None else files if isinstance(files, str) else None
        files = None if isinstance(files, str) else files
        first = next(iter((files or {}).values()), None)
        options = {k: v for k, v in (connection or {}).items() if k not in TASK_OPTIONS}
        super().__init__(first.parent if first else Path("."), options)
        self.uploaded = dict(files) if files is not None else None

    def source(self, dataset: DatasetMap) -> FileSource:
        found = super().source(dataset)
        path = (self.uploaded or {}).get(dataset.name)
        return found.model_copy(update={"path": path.name if path else "\0missing"})

    def fetch(self, dataset: DatasetMap, column: str, values: Sequence[object]) -> Iterator[Row]:
        if self.uploaded is None:
            raise ConnectorError(self.missing or _ALONE)
        if dataset.name not in self.uploaded:
            return iter(())
        return super().fetch(dataset, column, values)

    def check(self, datamap: DataMap | None = None) -> list[str]:
        if self.uploaded is None or datamap is None:
            return []  # nothing to reach: the owner uploads
        only = {n: d for n, d in datamap.datasets.items() if n in self.uploaded}
        return super().check(datamap.model_copy(update={"datasets": only}))

    def all_rows(self, dataset: DatasetMap, limit: int) -> list[Row]:
        """Every row of the dataset's upload; a malformed line is an error naming it."""
        source = self.source(dataset)
        found: list[Row] = []
        for path in self.files(dataset, source):
            reader = _Reader(path, source, dataset.name)
            for number, row, _raw in reader.rows():
                if row is None:
                    raise ConnectorError(f"{reader.where(number)} is malformed")
                found.append(row)
                if len(found) > limit:
                    raise ConnectorError(f"dataset {dataset.name!r}: more than {limit} rows")
        return found
