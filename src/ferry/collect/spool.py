"""Rows on disk while a collection runs, and the progress log that makes it resumable.

A person's rows of one dataset go to an append-only spool file as length-prefixed pickled
chunks, so memory stays flat however many rows the person has. After each lookup the engine
appends one JSON line to ``progress.jsonl`` with the spool sizes it has flushed; after a crash
the spools are cut back to those sizes and the lookups listed are not run again.

Spool files are written and read only by Ferry itself, inside its own ``var/`` folder, so
unpickling them is safe (they never hold anything a client system could choose as code).
"""

from __future__ import annotations

import gc
import json
import pickle
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Row = dict[str, object]
_HEAD = struct.Struct(">Q")
_CHUNK_ROWS = 2000


class RowSpool:
    """Rows of one (person, dataset), in order, readable as often as needed.

    Small spools stay in memory (a person with tens of rows costs no file at all); from
    ``spill_rows`` rows on, they go to disk in chunks, so memory stays flat however many rows
    there are. ``commit()`` marks the end of a lookup: only committed rows are ever recorded
    as done in the progress log, so rows of a lookup cut short are fetched again.
    """

    def __init__(self, path: Path | tuple[Path, str], spill_rows: int | None = None) -> None:
        self._where = path  # or (folder, file name): joined when the file is first needed
        self.spill_rows = spill_rows or _CHUNK_ROWS
        self.count = 0
        self.committed = 0
        self.committed_size = 0
        self._mem: list[Row] = []
        self._disk_rows = 0
        self._fh: Any = None

    @property
    def path(self) -> Path:
        if isinstance(self._where, tuple):  # a person's few rows never need it
            folder, name = self._where
            self._where = folder / name
        return self._where

    @property
    def on_disk(self) -> bool:
        return self._fh is not None or self._disk_rows > 0

    def append(self, row: Row) -> None:
        self._mem.append(row)
        self.count += 1
        if len(self._mem) >= self.spill_rows:
            self._spill()

    def extend(self, rows: list[Row]) -> None:
        """:meth:`append` for many rows (a chunk may then hold a few more than ``spill_rows``)."""
        self._mem.extend(rows)
        self.count += len(rows)
        if len(self._mem) >= self.spill_rows:
            self._spill()

    def _open(self) -> Any:
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("ab")
        return self._fh

    def _chunk(self, rows: list[Row]) -> None:
        self._open()
        data = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
        self._fh.write(_HEAD.pack(len(data)) + data)
        self._disk_rows += len(rows)

    def _spill(self) -> None:
        """Everything in memory to disk; committed rows first, so their end is known."""
        done = self.committed - self._disk_rows
        if done > 0:
            self._chunk(self._mem[:done])
            self._mem = self._mem[done:]
            self._fh.flush()
            self.committed_size = self._fh.tell()
        if self._mem:
            self._chunk(self._mem)
            self._mem = []

    def commit(self) -> None:
        """The lookup that added the last rows is complete."""
        self.committed = self.count
        if self.on_disk:
            self._spill()
            fh = self._open()
            fh.flush()
            self.committed_size = fh.tell()

    def persist(self) -> tuple[int, int]:
        """Write the committed rows to disk; ``(file size, rows)`` of the committed part."""
        if self.committed > self._disk_rows:
            uncommitted = self._mem[self.committed - self._disk_rows :]
            self._mem = self._mem[: self.committed - self._disk_rows]
            self._chunk(self._mem)
            self._mem = uncommitted
            self._fh.flush()
            self.committed_size = self._fh.tell()
        return self.committed_size, self.committed

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def truncate(self, size: int, count: int) -> bool:
        """Resume from a file: keep its first ``size`` bytes holding ``count`` rows.

        False when the file is shorter than that (rows were lost): start over.
        """
        self.close()
        if (self.path.stat().st_size if self.path.exists() else 0) < size:
            return False
        if self.path.exists():
            with self.path.open("r+b") as fh:
                fh.truncate(size)
        self.count = self.committed = self._disk_rows = count
        self.committed_size = size
        self._mem = []
        return True

    def in_memory(self) -> list[Row] | None:
        """The rows, when none went to disk (a small spool: iterating a list is cheaper
        than reading through this class), else None."""
        return None if self.on_disk else list(self._mem)

    def __iter__(self) -> Iterator[Row]:
        if self._fh is not None:
            self._fh.flush()
        if self._disk_rows:
            yield from read_rows(self.path)
        yield from list(self._mem)


def read_rows(path: Path) -> Iterator[Row]:
    """Rows of a spool file, chunk by chunk (a torn last chunk ends the file)."""
    if not path.exists():
        return
    with path.open("rb") as fh:
        while True:
            head = fh.read(_HEAD.size)
            if len(head) < _HEAD.size:
                return
            (size,) = _HEAD.unpack(head)
            data = fh.read(size)
            if len(data) < size:
                return
            with gc_paused():
                rows: list[Row] = pickle.loads(data)  # noqa: S301 - our own spool, see docstring
            yield from rows


class gc_paused:  # lower case: used like the function it was, ``with gc_paused():``
    """The garbage collector paused for a short, bounded piece of work (one chunk of rows).

    Making 2,000 rows allocates tens of thousands of objects, and every 700 allocations
    start a collection that scans the young ones for reference cycles, which plain rows
    never have. Paused, there is at most one collection per chunk instead of dozens (the
    allocation count carries over, so the collector runs as soon as it is enabled again).
    Nested or concurrent pauses are harmless: only the outermost one re-enables it.
    (A class, not a generator context manager: it is entered once per lookup.)
    """

    def __enter__(self) -> None:
        self.paused = gc.isenabled()
        if self.paused:
            gc.disable()

    def __exit__(self, *_exc: object) -> None:
        if self.paused:
            gc.enable()


class SpooledRows(list[Row]):
    """A read-only, lazily read list of rows: iterating streams them from disk.

    ``DatasetRows.rows`` is typed as a list; this keeps that type while holding no rows in
    memory. ``len()`` is the row count; only iteration is supported, not indexing.
    """

    def __init__(self, count: int, source: Callable[[], Iterator[Row]]) -> None:
        super().__init__()
        self._count = count
        self._source = source

    def __iter__(self) -> Iterator[Row]:
        return self._source()

    def __len__(self) -> int:
        return self._count

    def __bool__(self) -> bool:
        return self._count > 0

    def __getitem__(self, index: Any) -> Any:
        raise TypeError("spooled rows can only be iterated")

    def __repr__(self) -> str:
        return f"SpooledRows({self._count} rows)"


class ProgressLog:
    """``progress.jsonl``: one JSON object per finished step; a torn last line is ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def reset(self) -> None:
        """Forget all progress (the spools did not survive): the walk starts over."""
        self.path.unlink(missing_ok=True)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        entries = []
        lines = self.path.read_text(encoding="utf-8", errors="replace").splitlines()
        for line in lines:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                break  # written last, torn by the crash: everything after it is unknown
            if isinstance(entry, dict):
                entries.append(entry)
        if len(entries) != len(lines):  # drop the torn tail so later lines are read again
            text = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries)
            self.path.write_text(text, encoding="utf-8")
        return entries

    def append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str, separators=(",", ":")) + "\n")
