"""One system's walk for one person or many at once (bulk), streaming rows to disk, resumable.

Like :mod:`ferry.collect.planner`, the walk follows references only "down" and turns identity
columns of found rows into new identities, until no new ``(dataset, column, value)`` is left.
Unlike it, every lookup carries the values of all the people being collected: one
``WHERE column IN (...)`` or one pass over a file serves them all, and each row returned goes
to the people whose value it matched. Rows go straight to per-person spools on disk; after each
lookup a line in ``progress.jsonl`` records what is done, so a crashed walk resumes there.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter, deque
from collections.abc import Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from itertools import islice
from pathlib import Path
from time import monotonic
from typing import TYPE_CHECKING, Any

from ferry.collect import threads
from ferry.collect.datamap import DataMap, DatasetMap
from ferry.collect.spool import ProgressLog, RowSpool, gc_paused, read_rows
from ferry.domain.errors import InvalidInput
from ferry.domain.models import Identity, IdentityType

if TYPE_CHECKING:
    from ferry.connectors.base import Connector, Row

Lookup = tuple[str, str]  # (dataset, column)
Key = tuple[str, str]  # (owner, dataset)
_CHECK_EVERY = 1000
_SPREAD_AFTER = 0.02  # seconds a wave runs alone before other threads help


class SpoolLost(Exception):
    """A spool lost rows the log says were written (the machine crashed): start over."""


class Cancelled(Exception):
    """The engine gave up on this walk (time limit); it stops at the next batch of rows."""


def norm(value: object) -> str | None:
    """The text a lookup value is matched by (``42``, ``"42"`` and ``42.0`` are the same)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value.strip().casefold() or None
    if isinstance(value, float | Decimal):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return str(int(value)) if value == int(value) else str(value)
    if isinstance(value, int | uuid.UUID | date | time):
        return str(value)
    return None


def spool_name(key: Key) -> str:
    """``OWNER.DATASET.spool``: a spool's file in the system's folder (flat: folders are
    slow to remove)."""
    return f"{key[0]}.{key[1]}.spool"


def spool_path(folder: Path, key: Key) -> Path:
    return folder / spool_name(key)


def _row_key(ds: DatasetMap, row: Row) -> Hashable:
    keys = tuple(row.get(k) for k in ds.primary_key)
    if keys and all(k is not None for k in keys) and all(isinstance(k, Hashable) for k in keys):
        return keys
    return tuple(sorted((k, repr(v)) for k, v in row.items()))


def _identity(kind: IdentityType, value: str) -> Identity:
    try:
        return Identity.of(kind, value)
    except InvalidInput:
        return Identity(kind, value.strip())


@dataclass
class WalkResult:
    """What a finished walk leaves behind (the rows themselves are in the spools)."""

    counts: dict[Key, int] = field(default_factory=dict)
    columns: dict[Key, list[str]] = field(default_factory=dict)
    exports: dict[str, dict[str, list[object]]] = field(default_factory=dict)  # "ds.col" -> owner
    discovered: dict[str, list[Identity]] = field(default_factory=dict)
    unmatched: dict[str, int] = field(default_factory=dict)
    lookups: int = 0
    spools: dict[Key, RowSpool] = field(default_factory=dict)  # where the rows are

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": {f"{o}/{d}": n for (o, d), n in self.counts.items()},
            "columns": {f"{o}/{d}": c for (o, d), c in self.columns.items()},
            "exports": self.exports,
            "discovered": {
                o: [[i.type.value, i.value] for i in ids] for o, ids in self.discovered.items()
            },
            "unmatched": self.unmatched,
            "lookups": self.lookups,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], folder: Path) -> WalkResult:
        def split(text: str) -> Key:
            owner, _, dataset = text.partition("/")
            return owner, dataset

        counts = {split(k): int(v) for k, v in data["counts"].items()}
        spools = {}
        for key, count in counts.items():
            spool = spools[key] = RowSpool(spool_path(folder, key))
            spool.truncate(spool.path.stat().st_size if spool.path.exists() else 0, count)
        return cls(
            spools=spools,
            counts=counts,
            columns={split(k): list(v) for k, v in data["columns"].items()},
            exports=data["exports"],
            discovered={
                o: [Identity(IdentityType(t), v) for t, v in ids]
                for o, ids in data["discovered"].items()
            },
            unmatched=data["unmatched"],
            lookups=int(data.get("lookups", 0)),
        )


class _Wave:
    """The datasets of one wave of lookups, taken one at a time from a queue.

    The walk's own thread starts alone: a person's few rows are read in a millisecond, far
    less than handing work to other threads costs. Once the wave has run for
    ``_SPREAD_AFTER`` seconds (a bulk run, a heavy person), the datasets still waiting are
    shared with helper threads, up to ``connections`` threads in all.
    """

    def __init__(self, groups: list[list[Lookup]], run_group: Any, connections: int) -> None:
        self.todo = deque(groups)
        self.run_group = run_group
        self.spare = min(connections, len(groups)) - 1
        self.started = monotonic()
        self.helpers: list[Future[Any]] = []
        self.lock = threading.Lock()
        self.failed = False

    def work(self) -> None:
        while not self.failed:
            self.spread()
            try:
                group = self.todo.popleft()
            except IndexError:
                return
            try:
                self.run_group(group)
            except BaseException:
                self.failed = True  # the others stop taking datasets
                raise

    def spread(self) -> None:
        """Start helpers for the datasets still waiting, if the wave is taking a while."""
        if self.spare <= 0 or not self.todo or monotonic() - self.started < _SPREAD_AFTER:
            return
        with self.lock:
            while self.spare > 0 and len(self.todo) > 0:
                self.spare -= 1
                self.helpers.append(threads.submit(self.work))

    def run(self) -> None:
        errors: list[BaseException] = []
        try:
            self.work()
        except BaseException as exc:
            errors.append(exc)
        done = 0
        while done < len(self.helpers):  # helpers may start helpers while this waits
            try:
                self.helpers[done].result()
            except BaseException as exc:
                errors.append(exc)
            done += 1
        if errors:
            raise errors[0]


class SystemWalk:
    """State of one system's collection for a set of people ("owners", e.g. request ids)."""

    def __init__(
        self,
        datamap: DataMap,
        connector: Connector,
        folder: Path,
        *,
        exported: set[Lookup] | None = None,
        connections: int = 1,
        cancel: threading.Event | None = None,
        deadline: float | None = None,
    ) -> None:
        self.map = datamap
        self.connector = connector
        self.folder = folder
        self._log: ProgressLog | None = None
        self.connections = connections
        self.cancel = cancel  # set by the engine to stop the walk (Cancelled)
        self.deadline = deadline  # time.monotonic() past which the walk stops (Cancelled)
        self.lock = threading.Lock()
        shape = datamap.shape()
        self.multi = shape.multi
        self.exported = exported or set()
        self.spools: dict[Key, RowSpool] = {}
        self.columns: dict[Key, dict[str, None]] = {}
        self.keys: dict[Key, set[Hashable]] = {}
        self.seen: dict[Lookup, dict[str, set[str]]] = {}
        self.pending: dict[Lookup, dict[str, tuple[object, set[str]]]] = {}
        self.known: dict[str, set[Identity]] = {}
        self.discovered: dict[str, list[Identity]] = {}
        self.exports: dict[str, dict[str, dict[str, object]]] = {}
        self.unmatched: Counter[str] = Counter()
        self.lookups = 0
        self.durable = False
        self._unlogged: list[tuple[Lookup, dict[str, set[str]]]] = []  # done, not yet logged
        self._children = shape.links  # per dataset: (child, its column, this dataset's column)
        self._order = shape.order
        self._unique: dict[Lookup, bool] = {}
        self._wave: _Wave | None = None

    @property
    def log(self) -> ProgressLog:
        """``progress.jsonl`` (only a walk that checkpoints or resumes needs it)."""
        if self._log is None:
            self._log = ProgressLog(self.folder / "progress.jsonl")
        return self._log

    # --- queueing -------------------------------------------------------------------------

    def seed(self, owner: str, identities: list[Identity]) -> None:
        known = self.known.setdefault(owner, set())
        for identity in identities:
            known.add(identity)
            self._queue_identity(owner, identity)

    def seed_value(self, owner: str, lookup: Lookup, value: object) -> None:
        """A value found in another system (a cross-system reference)."""
        self._queue(owner, lookup, value)

    def _queue(self, owner: str, lookup: Lookup, value: object) -> None:
        key = norm(value)
        if key is None:
            return
        owners = self.seen.setdefault(lookup, {}).setdefault(key, set())
        if owner in owners:
            return
        owners.add(owner)
        entry = self.pending.setdefault(lookup, {}).setdefault(key, (value, set()))
        entry[1].add(owner)

    def _queue_identity(self, owner: str, identity: Identity) -> None:
        for ds in self.map.keyed_by(identity.type):
            self._queue(owner, (ds.name, ds.identities[identity.type]), identity.value)

    # --- taking rows ----------------------------------------------------------------------

    def _take(self, owner: str, ds: DatasetMap, rows: list[Row], replay: bool = False) -> None:
        """Rows of ``ds`` found for ``owner``, a batch at a time: drop those already taken (a
        dataset looked up by several columns), note their columns, spool them (unless they
        are replayed from the spool) and follow their references and identities."""
        key = (owner, ds.name)
        if ds.name in self.multi:
            seen = self.keys.setdefault(key, set())
            fresh = []
            for row in rows:
                row_key = _row_key(ds, row)
                if row_key not in seen:
                    seen.add(row_key)
                    fresh.append(row)
            rows = fresh
        if not rows:
            return
        cols = self.columns.get(key)
        if cols is None:
            cols = self.columns[key] = {}
        for shape in dict.fromkeys(tuple(row) for row in rows):  # most batches: one shape
            if len(cols) < len(shape) or tuple(cols)[: len(shape)] != shape:
                cols.update(dict.fromkeys(shape))
        if not replay:
            spool = self.spools.get(key)
            if spool is None:
                spool = self.spools[key] = RowSpool((self.folder, spool_name(key)))
            spool.extend(rows)
        children = self._children[ds.name]
        if children or ds.identities or self.exported:
            with self.lock:
                self._follow(owner, ds, rows, children)

    def _follow(
        self, owner: str, ds: DatasetMap, rows: list[Row], children: list[tuple[str, str, str]]
    ) -> None:
        """Queue the lookups these rows lead to: their children by reference, the person's
        identities found in them, and the values another system looks up by."""
        for child, column, source in children:
            lookup = (child, column)
            for row in rows:
                self._queue(owner, lookup, row.get(source))
        if ds.identities:
            for row in rows:
                self._found_identities(owner, ds, row)
        for dataset, column in self.exported:
            if dataset == ds.name:
                for row in rows:
                    value = row.get(column)
                    text = norm(value)
                    if text is not None:
                        box = self.exports.setdefault(f"{dataset}.{column}", {})
                        box.setdefault(owner, {})[text] = value

    def _found_identities(self, owner: str, ds: DatasetMap, row: Row) -> None:
        for kind, column in ds.identities.items():
            value = row.get(column)
            if value is None or isinstance(value, bool) or str(value).strip() == "":
                continue
            found = _identity(kind, str(value))
            known = self.known.setdefault(owner, set())
            if found not in known:
                known.add(found)
                self.discovered.setdefault(owner, []).append(found)
                if found.value == str(value) and self._own_key(ds, column):
                    self._mark_looked_up(owner, (ds.name, column), found.value)
                self._queue_identity(owner, found)

    def _own_key(self, ds: DatasetMap, column: str) -> bool:
        """Whether ``column`` is ``ds``'s primary key and the system enforces it (the
        connector's ``unique_key``: a SQL table's primary key constraint).

        Then looking ``ds`` up by a row's own key value can only return that row again (the
        database holds one row per key, and a second copy of a row is dropped as a
        duplicate anyway), so the lookup is skipped: for a customer found by email, asking
        for the same customer by id was a round trip that could add nothing.
        """
        if ds.primary_key != [column]:
            return False
        known = self._unique.get((ds.name, column))
        if known is None:
            unique_key = getattr(self.connector, "unique_key", None)
            known = callable(unique_key) and unique_key(ds, column) is True
            self._unique[(ds.name, column)] = known
        return known

    def _mark_looked_up(self, owner: str, lookup: Lookup, value: str) -> None:
        key = norm(value)
        if key is not None:
            self.seen.setdefault(lookup, {}).setdefault(key, set()).add(owner)

    # --- running --------------------------------------------------------------------------

    def resume(self) -> None:
        """Mark logged lookups done, cut spools back to what was logged, replay their rows."""
        committed: dict[str, list[int]] = {}
        logged: dict[Lookup, dict[str, set[str]]] = {}
        for entry in self.log.read():
            if "lookup" not in entry:
                continue
            lookup = (str(entry["lookup"][0]), str(entry["lookup"][1]))
            for value, owners in entry["values"].items():
                logged.setdefault(lookup, {}).setdefault(value, set()).update(owners)
            committed.update(entry["spools"])
            self.lookups += 1
        for lookup, entries in list(self.pending.items()):
            done = logged.get(lookup, {})
            for value, (_raw, owners) in list(entries.items()):
                owners -= done.get(value, set())
                if not owners:
                    del entries[value]
            if not entries:
                del self.pending[lookup]
        for lookup, done_values in logged.items():
            for value, done_owners in done_values.items():
                self.seen.setdefault(lookup, {}).setdefault(value, set()).update(done_owners)
        for path in sorted(self.folder.glob("*.spool")) if self.folder.exists() else []:
            owner, _, dataset = path.stem.partition(".")
            key = (owner, dataset)
            size, count = committed.get(f"{owner}/{dataset}", [0, 0])
            spool = self.spools[key] = RowSpool(path)
            if not spool.truncate(size, count):
                raise SpoolLost(f"{path} is shorter than its progress log says")
        for key, spool in self.spools.items():
            ds = self.map.datasets.get(key[1])
            if ds is None:
                continue
            if self._children[ds.name] or ds.identities or self.exported or ds.name in self.multi:
                rows = read_rows(spool.path)
                while batch := list(islice(rows, _CHECK_EVERY)):
                    self._take(key[0], ds, batch, replay=True)
            else:
                self.columns.setdefault(key, {})
                for row in read_rows(spool.path):
                    self.columns[key].update(dict.fromkeys(row))
                    break

    def run(self) -> WalkResult:
        """Walk to the fixed point (nothing is logged as final: see :meth:`persist`)."""
        while self.pending:
            with self.lock:
                wave, self.pending = self.pending, {}
            order = self._order
            by_dataset: dict[str, list[Lookup]] = {}
            for lookup in sorted(wave, key=lambda lk: (order.get(lk[0], 0), lk[1])):
                by_dataset.setdefault(lookup[0], []).append(lookup)
            groups = list(by_dataset.values())

            def run_group(group: list[Lookup], wave: Any = wave) -> None:
                for lookup in group:
                    self._lookup(lookup, wave[lookup])

            self._run_groups(groups, run_group)
        return self.result()

    def _run_groups(self, groups: list[list[Lookup]], run_group: Any) -> None:
        """Datasets of one wave, at most ``connections`` at a time (see :class:`_Wave`)."""
        if len(groups) == 1:  # one dataset: nothing to share with other threads
            run_group(groups[0])
            return
        self._wave = _Wave(groups, run_group, self.connections)
        try:
            self._wave.run()
        finally:
            self._wave = None

    def _spread(self) -> None:
        wave = self._wave
        if wave is not None:
            wave.spread()

    def _lookup(self, lookup: Lookup, entries: dict[str, tuple[object, set[str]]]) -> None:
        self._check()
        name, column = lookup
        ds = self.map.datasets[name]
        owners_of = {v: owners for v, (_value, owners) in entries.items()}
        values = [value for value, _owners in entries.values()]
        touched: set[str] = set()
        first = next(iter(owners_of.values()))
        single = first if all(o == first for o in owners_of.values()) else None
        rows = iter(self.connector.fetch(ds, column, values))
        while True:
            with gc_paused():  # rows hold no reference cycles: see spool.gc_paused
                batch = list(islice(rows, _CHECK_EVERY))
                if single is not None:  # every row is for the same people (one person)
                    per_owner = dict.fromkeys(single, batch) if batch else {}
                else:
                    per_owner = self._by_owner(name, column, batch, owners_of)
                for owner, found in per_owner.items():
                    self._take(owner, ds, found)
                    touched.add(owner)
            if len(batch) < _CHECK_EVERY:
                break
            self._check()
            self._spread()
        mine = [self.spools[(owner, name)] for owner in sorted(touched)]
        for spool in mine:
            spool.commit()
        with self.lock:
            self.lookups += 1
            self._unlogged.append((lookup, owners_of))
            if self.durable or any(spool.on_disk for spool in mine):
                self._checkpoint()

    def _by_owner(
        self, name: str, column: str, batch: list[Row], owners_of: dict[str, set[str]]
    ) -> dict[str, list[Row]]:
        """The batch's rows per person, by the value each row matched (bulk)."""
        per_owner: dict[str, list[Row]] = {}
        for row in batch:
            owners = owners_of.get(norm(row.get(column)) or "")
            if owners is None:
                self.unmatched[name] += 1
                continue
            for owner in owners:
                per_owner.setdefault(owner, []).append(row)
        return per_owner

    def _check(self) -> None:
        cancel, deadline = self.cancel, self.deadline
        if (cancel is not None and cancel.is_set()) or (
            deadline is not None and monotonic() > deadline
        ):
            raise Cancelled

    def _checkpoint(self) -> None:
        """Put committed rows on disk and log the lookups done since the last checkpoint.

        Small collections never get here while running (they are cheaper to redo than to
        record); once a spool spills to disk, every lookup is logged as it finishes.
        """
        sizes = {f"{o}/{d}": list(s.persist()) for (o, d), s in self.spools.items()}
        for i, ((name, column), owners_of) in enumerate(self._unlogged):
            last = i == len(self._unlogged) - 1
            values = {v: sorted(o) for v, o in owners_of.items()}
            self.log.append(
                {"lookup": [name, column], "values": values, "spools": sizes if last else {}}
            )
        if not self._unlogged and sizes:
            self.log.append({"lookup": ["", ""], "values": {}, "spools": sizes})
        self._unlogged = []
        self.durable = True

    def persist(self, final: str | None = None) -> None:
        """Record what is done so a later run resumes; ``final``: "done" or "partial"."""
        with self.lock:
            self._checkpoint()
            if final:
                self.log.append({final: True, "result": self.result().to_json()})

    def result(self) -> WalkResult:
        return WalkResult(
            spools=dict(self.spools),
            counts={k: s.count for k, s in self.spools.items()},
            columns={k: list(c) for k, c in self.columns.items()},
            exports={
                k: {o: list(v.values()) for o, v in box.items()} for k, box in self.exports.items()
            },
            discovered=dict(self.discovered),
            unmatched=dict(self.unmatched),
            lookups=self.lookups,
        )

    def finished(self) -> WalkResult | None:
        """The result logged by an earlier, completed run of this walk, if any."""
        for entry in reversed(self.log.read()):
            if entry.get("done"):
                return WalkResult.from_json(entry["result"], self.folder)
        return None
