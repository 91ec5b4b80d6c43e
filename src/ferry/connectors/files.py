"""Read-only connector for legacy exports in a folder: CSV, fixed-width text and JSON Lines.

Each dataset names its file, or a glob of files read as one dataset, under ``source`` in the
data map (paths stay inside the system's folder). ``.gz`` files are read through gzip. The
encoding (``auto``: UTF-8, else detected with charset-normalizer), the CSV dialect and whether
there is a header row are detected unless the map says. A lookup is one pass over the files.

A malformed line (wrong number of fields, bad JSON, undecodable bytes) is an error when it
contains one of the values looked up — it may be the person's — and otherwise counted in
``warnings``, which the engine puts in the gap report. Nothing is skipped silently.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Literal

from charset_normalizer import from_bytes
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ferry.collect.datamap import DataMap, DatasetMap, explain
from ferry.collect.scan import ColumnInfo, TableInfo
from ferry.collect.walk import norm
from ferry.connectors.base import ConnectorError, Row

_SAMPLE = 64 * 1024
csv.field_size_limit(256 * 2**20)  # one field may be large (a note, a blob), not unbounded
_SUFFIXES = {".csv": "csv", ".tsv": "csv", ".txt": "fixed", ".dat": "fixed", ".jsonl": "jsonl"}
_SUFFIXES[".ndjson"] = "jsonl"


class Slot(BaseModel):
    """One fixed-width field: 1-based ``start`` (default: after the previous one) and width."""

    model_config = ConfigDict(extra="forbid")
    name: str
    width: int = Field(ge=1, le=100_000)
    start: int | None = Field(default=None, ge=1)


class FileSource(BaseModel):
    """``source:`` of a dataset kept in files."""

    model_config = ConfigDict(extra="forbid")
    path: str = ""
    format: Literal["csv", "fixed", "jsonl", "auto"] = "auto"
    encoding: str = "auto"
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    header: bool | Literal["auto"] = "auto"
    columns: list[str] = Field(default_factory=list)
    layout: list[Slot] = Field(default_factory=list)

    @model_validator(mode="after")
    def _layout_for_fixed(self) -> FileSource:
        if self.format == "fixed" and not self.layout:
            raise ValueError("format fixed needs a layout: [{name, width, start}]")
        return self


def _open_binary(path: Path) -> IO[bytes]:
    raw = path.open("rb")
    if path.suffix == ".gz" or raw.read(2) == b"\x1f\x8b":
        raw.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    raw.seek(0)
    return raw


def _format_of(source: FileSource, path: Path) -> str:
    if source.format != "auto":
        return source.format
    suffixes = [s for s in path.suffixes if s != ".gz"]
    kind = _SUFFIXES.get(suffixes[-1].lower() if suffixes else "")
    if kind is None:
        raise ConnectorError(f"{path.name}: cannot tell the format; set source.format")
    return "fixed" if kind == "fixed" and source.layout else ("csv" if kind == "fixed" else kind)


def detect_encoding(sample: bytes) -> str:
    """UTF-8 when the sample decodes as UTF-8, else the best charset-normalizer guess."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as err:
        if err.start >= len(sample) - 3:  # a character cut by the sample's end
            return "utf-8"
    best = from_bytes(sample).best()
    return best.encoding if best is not None else "cp1252"


class _Reader:
    """Rows of one file with their line numbers; malformed lines reported, not hidden."""

    def __init__(self, path: Path, source: FileSource, dataset: str) -> None:
        self.path, self.source, self.dataset = path, source, dataset
        with _open_binary(path) as fh:
            self.sample = fh.read(_SAMPLE)
        enc = source.encoding
        self.encoding = detect_encoding(self.sample) if enc == "auto" else enc
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ConnectorError(
                f"dataset {dataset!r}: unknown encoding {self.encoding!r} in source.encoding"
            ) from None
        self.format = _format_of(source, path)

    def where(self, line: int) -> str:
        return f"dataset {self.dataset!r}, file {self.path.name} line {line}"

    def text(self) -> io.TextIOWrapper:
        try:
            return io.TextIOWrapper(_open_binary(self.path), encoding=self.encoding, newline="")
        except LookupError:
            raise ConnectorError(f"{self.where(0)}: unknown encoding {self.encoding!r}") from None

    def rows(self) -> Iterator[tuple[int, Row | None, str]]:
        """``(line number, row or None when malformed, raw line)``."""
        reader = {"csv": self._csv, "fixed": self._fixed, "jsonl": self._jsonl}[self.format]
        try:
            yield from reader()
        except UnicodeDecodeError as err:
            raise ConnectorError(
                f"dataset {self.dataset!r}, file {self.path.name}: bytes not valid "
                f"{self.encoding} ({err.reason}); set source.encoding in the data map"
            ) from None
        except (OSError, EOFError) as err:
            raise ConnectorError(f"{self.where(0)}: cannot be read ({err})") from None

    def _dialect(self) -> tuple[type[csv.Dialect] | csv.Dialect, bool]:
        text = self.sample.decode(self.encoding, errors="replace")
        text = text.rsplit("\n", 1)[0] if "\n" in text else text
        try:
            dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text, ",;\t|")
        except csv.Error:
            dialect = csv.excel
        header = self.source.header
        if header == "auto":  # a header unless the map names the columns and row 1 is data
            first = next(csv.reader([text.split("\n", 1)[0]], dialect), [])
            names = [c.casefold() for c in self.source.columns]
            header = not names or [f.strip().casefold() for f in first] == names
        return dialect, bool(header)

    def _csv(self) -> Iterator[tuple[int, Row | None, str]]:
        dialect, header = self._dialect()
        options: dict[str, Any] = {"dialect": dialect, "strict": False}
        if self.source.delimiter:
            options["delimiter"] = self.source.delimiter
        options["quotechar"] = self.source.quotechar
        with self.text() as fh:
            reader = csv.reader(fh, **options)
            names = list(self.source.columns)
            while True:
                line = reader.line_num + 1
                try:
                    fields = next(reader)
                except StopIteration:
                    return
                except csv.Error as err:
                    raise ConnectorError(
                        f"{self.where(line)} cannot be read as CSV: {err}"
                    ) from None
                if header and not names:
                    names = [f.strip() for f in fields]
                    continue
                if not names:
                    names = [f"column_{i + 1}" for i in range(len(fields))]
                if not fields:
                    continue
                if len(fields) != len(names):
                    yield reader.line_num, None, dialect_join(fields)
                    continue
                yield reader.line_num, dict(zip(names, fields, strict=True)), ""

    def _fixed(self) -> Iterator[tuple[int, Row | None, str]]:
        slots, pos = [], 0
        for slot in self.source.layout:
            start = (slot.start - 1) if slot.start else pos
            slots.append((slot.name, start, start + slot.width))
            pos = start + slot.width
        last_start = max(s for _, s, _ in slots)
        with self.text() as fh:
            for number, line in enumerate(fh, 1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                if len(line) <= last_start:
                    yield number, None, line
                    continue
                yield number, {name: line[a:b].strip() for name, a, b in slots}, ""

    def _jsonl(self) -> Iterator[tuple[int, Row | None, str]]:
        with self.text() as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    yield number, None, line
                    continue
                yield (number, row, "") if isinstance(row, dict) else (number, None, line)


def dialect_join(fields: list[str]) -> str:
    return "\x1f".join(fields)


class FileConnector:
    """Reads mapped files under one folder; never writes."""

    def __init__(self, root: str | Path, connection: dict[str, Any] | None = None) -> None:
        self.root = Path(root).resolve()
        self.defaults = dict(connection or {})
        self.warnings: list[str] = []

    def source(self, dataset: DatasetMap) -> FileSource:
        data = {**self.defaults, **dataset.source}
        data.setdefault("path", f"{dataset.table}.*")
        try:
            return FileSource.model_validate(data)
        except ValidationError as err:
            raise ConnectorError(f"dataset {dataset.name!r} source: {explain(err)}") from None

    def files(self, dataset: DatasetMap, source: FileSource) -> list[Path]:
        pattern = source.path
        if Path(pattern).is_absolute() or ".." in Path(pattern).parts:
            raise ConnectorError(
                f"dataset {dataset.name!r}: source.path {pattern!r} must be relative to the "
                "system's folder, without '..'"
            )
        found = sorted(p for p in self.root.glob(pattern) if p.is_file())
        inside = [p for p in found if p.resolve().is_relative_to(self.root)]
        if not inside:
            raise ConnectorError(
                f"dataset {dataset.name!r}: no file matches {pattern!r} in {self.root}"
            )
        return inside

    def fetch(self, dataset: DatasetMap, column: str, values: Sequence[object]) -> Iterator[Row]:
        """One pass over the dataset's files, yielding rows whose ``column`` is in ``values``."""
        source = self.source(dataset)
        wanted = {n for n in (norm(v) for v in values) if n is not None}
        if not wanted:
            return
        keep = dataset.columns_needed()
        for path in self.files(dataset, source):
            yield from self._scan(path, source, dataset, column, wanted, keep)

    def _scan(
        self,
        path: Path,
        source: FileSource,
        dataset: DatasetMap,
        column: str,
        wanted: set[str],
        keep: list[str] | None,
    ) -> Iterator[Row]:
        reader = _Reader(path, source, dataset.name)
        bad = 0
        for number, row, raw in reader.rows():
            if row is None:
                folded = raw.casefold()
                if any(value in folded for value in wanted):
                    raise ConnectorError(
                        f"{reader.where(number)} is malformed and may hold the person's data; "
                        "fix the export (or its source settings in the data map) and retry"
                    )
                bad += 1
                continue
            if column not in row:
                raise ConnectorError(f"{reader.where(number)}: no column {column!r}")
            if norm(row[column]) in wanted:
                yield row if keep is None else {k: row.get(k) for k in keep}
        if bad:
            self.warnings.append(
                f"dataset {dataset.name!r}, file {path.name}: {bad} malformed lines skipped; "
                "none of them contains a value that was looked up"
            )

    def check(self, datamap: DataMap | None = None) -> list[str]:
        if not self.root.is_dir():
            return [f"folder {self.root} not found"]
        if datamap is None:
            return []
        problems = []
        for ds in datamap.datasets.values():
            try:
                source = self.source(ds)
                have = self._columns(self.files(ds, source)[0], source, ds.name)
            except ConnectorError as err:
                problems.append(err.message)
                continue
            missing = [c for c in dict.fromkeys([*ds.key_columns(), *ds.fields]) if c not in have]
            if missing and have:
                cols = ", ".join(repr(c) for c in missing)
                problems.append(f"dataset {ds.name!r}: the file has no column {cols}")
        return problems

    @staticmethod
    def _columns(path: Path, source: FileSource, dataset: str) -> set[str]:
        for _number, row, _raw in _Reader(path, source, dataset).rows():
            if row is not None:
                return set(row)
        return set()

    def describe(self, sample: int = 30) -> list[TableInfo]:
        """Each CSV / JSON Lines file in the folder as a table, with sampled values."""
        tables = []
        for path in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            suffixes = [s.lower() for s in path.suffixes if s != ".gz"]
            if (
                not path.is_file()
                or not suffixes
                or _SUFFIXES.get(suffixes[-1]) not in ("csv", "jsonl")
            ):
                continue
            source = FileSource(path=path.name)
            rows = []
            for _number, row, _raw in _Reader(path, source, path.stem).rows():
                if row is not None:
                    rows.append(row)
                if len(rows) >= max(sample, 1):
                    break
            names = list(dict.fromkeys(k for r in rows for k in r))
            columns = [ColumnInfo(n, "", [r.get(n) for r in rows]) for n in names]
            name = path.name.split(".")[0]
            keys = ["id"] if "id" in names else []
            tables.append(TableInfo(name, columns, keys, source={"path": path.name}))
        return tables

    def close(self) -> None:
        """Nothing stays open between lookups."""
