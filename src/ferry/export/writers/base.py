"""The writer plugin: a small Protocol, its options, and the registry keyed by format name.

A writer turns one dataset into one file (``data/<system>/<dataset>.<extension>``), streaming
row by row into a byte sink. Writers for standard models (vCard, iCalendar) say through
``fits`` whether a dataset is of their kind. The readable HTML report is not a per-dataset
writer: the package renders it as ``data/index.html`` (see ``ferry.export.report``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from itertools import islice
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from ferry.domain.errors import InvalidInput
from ferry.domain.models import DatasetRows
from ferry.export.jsonenc import BytesSink
from ferry.export.schema import DatasetSchema

REPORT_FORMAT = "html"
DEFAULT_FORMATS = ("json", "csv", "html", "vcard", "ical")


class WriterOptions(BaseModel):
    """Settings every writer receives (each reads only what it needs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    csv_bom: bool = False  # a UTF-8 byte-order mark so spreadsheet programs pick UTF-8
    stamp: datetime = datetime(2000, 1, 1, tzinfo=UTC)  # when the package was made (iCal DTSTAMP)


class Writer(Protocol):
    name: str  # the format name people type: json, csv, xml, ...
    extension: str  # file name ending, without the dot
    media_type: str
    title: str  # plain words for the README: "CSV (opens in any spreadsheet program)"

    def fits(self, data: DatasetRows) -> bool:
        """Whether this dataset can be written in this format."""
        ...

    def write(self, sink: BytesSink, data: DatasetRows, schema: DatasetSchema) -> int:
        """Stream the dataset into ``sink``; return the number of rows (or records) written."""
        ...


def batches(rows: Iterable[dict[str, object]], size: int) -> Iterator[list[dict[str, object]]]:
    """The rows ``size`` at a time (the last batch may be shorter), read lazily."""
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


WriterFactory = Callable[[WriterOptions], Writer]
_REGISTRY: dict[str, WriterFactory] = {}


def register(name: str, factory: WriterFactory) -> None:
    _REGISTRY[name] = factory


def known_formats() -> tuple[str, ...]:
    return (*sorted(_REGISTRY), REPORT_FORMAT)


def get_writer(name: str, options: WriterOptions | None = None) -> Writer:
    factory = _REGISTRY.get(name)
    if factory is None:
        raise InvalidInput(f"unknown format {name!r}; use any of: {', '.join(known_formats())}")
    return factory(options or WriterOptions())


def parse_formats(value: str | Iterable[str]) -> tuple[str, ...]:
    """``"json,csv"`` or ``["json", "csv"]`` -> ``("csv", "json")``: known, unique, sorted."""
    items = value.split(",") if isinstance(value, str) else list(value)
    names = {str(item).strip().lower() for item in items if str(item).strip()}
    if not names:
        raise InvalidInput("choose at least one format, e.g. json,csv,html")
    unknown = sorted(names - set(known_formats()))
    if unknown:
        allowed = ", ".join(known_formats())
        raise InvalidInput(f"unknown format(s) {', '.join(unknown)}; use any of: {allowed}")
    return tuple(sorted(names))
