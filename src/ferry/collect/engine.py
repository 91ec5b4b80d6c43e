"""The collection engine: every system of a tenant, in parallel, for one person or many.

Each system is walked in its own thread (:class:`~ferry.collect.walk.SystemWalk`) with its
map's ``collection`` options: parallel connections, a time limit per attempt and retries with
backoff. A system whose map references another system (``crm.customers.id``) starts when that
one is finished and is seeded with the values found there. A system that still fails is a gap:
it is reported, never silently left out. Progress lives in ``folder``, so running the same
collection again after a crash or a failure resumes: finished systems are not read again and
unfinished ones skip the lookups already done.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, TimeoutError, wait
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from ferry.collect import threads
from ferry.collect.datamap import DataMap, DatasetMap
from ferry.collect.planner import reachable
from ferry.collect.spool import SpooledRows
from ferry.collect.walk import Cancelled, SpoolLost, SystemWalk, WalkResult
from ferry.domain.errors import FerryError, InvalidInput
from ferry.domain.models import DatasetRows, Identity, Scope

if TYPE_CHECKING:
    from ferry.connectors.base import Connector, Row

log = logging.getLogger("ferry.collect")
_LATE = 0.05  # seconds: an error this close to the deadline is the time limit at work


@dataclass(frozen=True)
class Source:
    """A client system to collect from: its map and how to open its connector."""

    name: str
    datamap: DataMap
    open: Callable[[], Connector]


@dataclass(frozen=True)
class Person:
    """One person being collected (``key``: the request id)."""

    key: str
    identities: list[Identity]
    scope: Scope = field(default_factory=Scope)


@dataclass
class Outcome:
    """How collecting one system went. ``status``: done, failed or skipped."""

    system: str
    status: str = "pending"
    error: str | None = None
    attempts: int = 0
    warnings: list[str] = field(default_factory=list)
    result: WalkResult | None = None
    _per_owner: tuple[WalkResult, dict[str, int]] | None = field(
        default=None, repr=False, compare=False
    )

    def rows_for(self, owner: str | None = None) -> int:
        """Rows found for one person (``owner``), or for everyone."""
        if self.result is None:
            return 0
        if owner is None:
            return sum(self.result.counts.values())
        if self._per_owner is None or self._per_owner[0] is not self.result:
            totals: dict[str, int] = {}  # summed once: a bulk batch asks for every person
            for (o, _d), n in self.result.counts.items():
                totals[o] = totals.get(o, 0) + n
            self._per_owner = (self.result, totals)
        return self._per_owner[1].get(owner, 0)

    def as_dict(self, owner: str | None = None) -> dict[str, object]:
        rows = self.rows_for(owner)
        return {
            "system": self.system,
            "status": self.status,
            "error": self.error,
            "attempts": self.attempts,
            "warnings": self.warnings,
            "rows": rows,
        }


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


def dependencies(sources: list[Source]) -> dict[str, set[str]]:
    """System -> systems it needs values from; a cycle or an unknown system is an error."""
    names = {s.name for s in sources}
    deps: dict[str, set[str]] = {}
    for source in sources:
        needs = set()
        for ds, ref in source.datamap.external_references():
            if ref.to_system not in names:
                raise InvalidInput(
                    f"system {source.name!r} dataset {ds.name!r} references {ref.to!r}, "
                    f"but the tenant has no system {ref.to_system!r}"
                )
            needs.add(str(ref.to_system))
        deps[source.name] = needs
    _check_acyclic(deps)
    return deps


def _check_acyclic(deps: dict[str, set[str]]) -> None:
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 1:
            cycle = " -> ".join([*path[path.index(name) :], name])
            raise InvalidInput(f"cross-system references form a cycle: {cycle}")
        if state.get(name) == 2:
            return
        state[name] = 1
        for other in sorted(deps.get(name, ())):
            visit(other, [*path, name])
        state[name] = 2

    for name in sorted(deps):
        visit(name, [])


class Collection:
    """Collect ``people`` from ``sources``, keeping rows and progress under ``folder``."""

    def __init__(
        self,
        sources: list[Source],
        people: list[Person],
        folder: Path,
        *,
        backoff_seconds: float = 1.0,
    ) -> None:
        self.sources = {s.name: s for s in sources}
        self.people = {p.key: p for p in people}
        self.folder = folder
        self.backoff = backoff_seconds
        self.deps = dependencies(sources)
        self.outcomes: dict[str, Outcome] = {s.name: Outcome(s.name) for s in sources}
        self._walks: dict[str, SystemWalk] = {}
        self._exported = self._exported_columns(sources)

    @staticmethod
    def _exported_columns(sources: list[Source]) -> dict[str, set[tuple[str, str]]]:
        wanted: dict[str, set[tuple[str, str]]] = {s.name: set() for s in sources}
        for source in sources:
            for _ds, ref in source.datamap.external_references():
                wanted[str(ref.to_system)].add((ref.to_dataset, ref.to_field))
        return wanted

    # --- running --------------------------------------------------------------------------

    def run(self) -> dict[str, Outcome]:
        """Collect every system (dependencies first, the rest in parallel)."""
        waiting = dict(self.deps)
        running: dict[Future[None], str] = {}
        if len(waiting) == 1:  # one system: no need for a thread to wait on (its attempt has one)
            name = next(iter(waiting))
            try:
                self._system(name)
            except Exception as exc:  # a bug, not the system: still a gap
                self.outcomes[name].status = "failed"
                self.outcomes[name].error = f"{type(exc).__name__}: {exc}"
            waiting = {}
        while waiting or running:
            for name in sorted(waiting):
                if not waiting[name] & (set(waiting) | set(running.values())):
                    del waiting[name]
                    running[threads.submit(partial(self._system, name))] = name
            done, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                problem = future.exception()
                if problem is not None:  # a bug, not the system: still a gap
                    self.outcomes[name].status = "failed"
                    self.outcomes[name].error = f"{type(problem).__name__}: {problem}"
        if self.gaps():
            self._persist()
        return self.outcomes

    def _persist(self) -> None:
        """Some system failed: keep what the others found, so a retry or a partial delivery
        does not read them again."""
        for name, walk in self._walks.items():
            if self.outcomes[name].status == "done":
                complete = all(self.outcomes[d].status == "done" for d in self.deps[name])
                walk.persist("done" if complete else "partial")

    def _covered(self, name: str) -> list[Person]:
        return [p for p in self.people.values() if p.scope.covers_system(name)]

    def _system(self, name: str) -> None:
        outcome = self.outcomes[name]
        source = self.sources[name]
        folder = self.folder / name
        people = self._covered(name)
        if not people:
            outcome.status = "skipped"
            return
        failed_deps = sorted(d for d in self.deps[name] if self.outcomes[d].status != "done")
        for dep in failed_deps:
            outcome.warnings.append(
                f"lookups with values from system {dep!r} did not run because {dep!r} failed; "
                "retry the collection once it is fixed"
            )
        options = source.datamap.collection
        for attempt in range(1, options.retries + 2):
            outcome.attempts = attempt
            try:
                outcome.result = self._attempt(source, folder, people)
            except FerryError as exc:
                outcome.error = exc.message
            except Exception as exc:  # a client system can fail in any way: it is a gap
                outcome.error = f"{type(exc).__name__}: {exc}"
            else:
                outcome.status, outcome.error = "done", None
                self._note_unmatched(outcome)
                return
            log.warning("system %s attempt %d failed: %s", name, attempt, outcome.error)
            if attempt <= options.retries:
                time.sleep(self.backoff * 2 ** (attempt - 1))
        outcome.status = "failed"

    def _note_unmatched(self, outcome: Outcome) -> None:
        for dataset, count in sorted((outcome.result.unmatched if outcome.result else {}).items()):
            outcome.warnings.append(
                f"{count} rows of dataset {dataset!r} matched none of the values asked for "
                "(the system compares differently); they were left out"
            )

    def _attempt(self, source: Source, folder: Path, people: list[Person]) -> WalkResult:
        """One attempt within the map's time limit.

        A connector that bounds the time of its own calls (``limit_time``: the SQL connector
        on SQLite and PostgreSQL, through a progress handler or ``statement_timeout``) is
        walked in the calling thread, checking the deadline between lookups: handing a
        person's millisecond of work to another thread costs more than the work on a busy
        machine. Any other connector is walked in a thread of its own, so the time limit
        holds even if one of its calls hangs.
        """
        options = source.datamap.collection
        seconds = options.timeout_seconds
        connector = source.open()
        try:
            limit_time = getattr(connector, "limit_time", None)
            inline = callable(limit_time) and limit_time(seconds) is True
        except BaseException:
            connector.close()
            raise
        if inline:
            return self._inline(source, connector, folder, people, seconds)
        cancel = threading.Event()
        future = threads.submit(lambda: self._walk(source, connector, folder, people, cancel))
        try:
            result = future.result(timeout=seconds)
        except TimeoutError:
            cancel.set()
            raise self._timed_out(source, seconds) from None
        except Cancelled:
            raise FerryError(f"system {source.name!r} was stopped", code="system_timeout") from None
        assert isinstance(result, WalkResult)
        return result

    def _inline(
        self,
        source: Source,
        connector: Connector,
        folder: Path,
        people: list[Person],
        seconds: float,
    ) -> WalkResult:
        deadline = time.monotonic() + seconds
        try:
            return self._walk(source, connector, folder, people, None, deadline)
        except Cancelled:
            raise self._timed_out(source, seconds) from None
        except FerryError:
            if time.monotonic() >= deadline - _LATE:  # the database stopped it at the deadline
                raise self._timed_out(source, seconds) from None
            raise

    @staticmethod
    def _timed_out(source: Source, seconds: float) -> FerryError:
        return FerryError(
            f"system {source.name!r} did not finish within {seconds:g} s", code="system_timeout"
        )

    def _walk(
        self,
        source: Source,
        connector: Connector,
        folder: Path,
        people: list[Person],
        cancel: threading.Event | None,
        deadline: float | None = None,
    ) -> WalkResult:
        try:
            walk = self._new_walk(source, connector, folder, people, cancel, deadline)
            if folder.exists():  # an earlier run left progress: its result, or where it stopped
                finished = walk.finished()
                if finished is not None:
                    return finished
                try:
                    walk.resume()
                except SpoolLost:
                    log.warning("system %s: spools lost rows, collecting it again", source.name)
                    shutil.rmtree(folder, ignore_errors=True)
                    walk = self._new_walk(source, connector, folder, people, cancel, deadline)
            self._walks[source.name] = walk
            try:
                return walk.run()
            except Cancelled:
                raise
            except Exception:
                walk.persist()  # lookups finished before the failure are not redone
                raise
        finally:
            connector.close()

    def _new_walk(
        self,
        source: Source,
        connector: Connector,
        folder: Path,
        people: list[Person],
        cancel: threading.Event | None,
        deadline: float | None = None,
    ) -> SystemWalk:
        walk = SystemWalk(
            source.datamap,
            connector,
            folder,
            exported=self._exported[source.name],
            connections=source.datamap.collection.connections,
            cancel=cancel,
            deadline=deadline,
        )
        for person in people:
            walk.seed(person.key, person.identities)
        self._seed_external(walk, source.datamap, people)
        return walk

    def _seed_external(self, walk: SystemWalk, datamap: DataMap, people: list[Person]) -> None:
        for ds, ref in datamap.external_references():
            other = self.outcomes[str(ref.to_system)]
            if other.status != "done" or other.result is None:
                continue
            found = other.result.exports.get(f"{ref.to_dataset}.{ref.to_field}", {})
            for person in people:
                for value in found.get(person.key, []):
                    walk.seed_value(person.key, (ds.name, ref.field), value)

    # --- results --------------------------------------------------------------------------

    def gaps(self) -> list[Outcome]:
        """Systems that failed, or finished without values another system should have given."""
        return [o for o in self.outcomes.values() if o.status == "failed"]

    def unreachable(self, person: Person) -> list[str]:
        """``system.dataset`` names no identity of the person and no reference can reach."""
        found: list[str] = []
        for name, source in self.sources.items():
            if not person.scope.covers_system(name):
                continue
            datamap = source.datamap
            reach = set(reachable(datamap, {i.type for i in person.identities}))
            reach |= {ds.name for ds, _ref in datamap.external_references()}
            grew = True
            while grew:
                before = len(reach)
                for ds_name in list(reach):
                    reach.update(child.name for child, _ in datamap.children(ds_name))
                grew = len(reach) != before
            found.extend(f"{name}.{d}" for d in datamap.datasets if d not in reach)
        return found

    def discovered(self, person: Person) -> list[Identity]:
        found: list[Identity] = []
        for outcome in self.outcomes.values():
            if outcome.result is not None:
                found.extend(outcome.result.discovered.get(person.key, []))
        return found

    def datasets(self, person: Person) -> list[DatasetRows]:
        """The person's rows of every finished system, in scope, streamed from disk."""
        out: list[DatasetRows] = []
        for name, source in self.sources.items():
            outcome = self.outcomes[name]
            if not person.scope.covers_system(name):
                continue
            if outcome.status != "done" or outcome.result is None:
                continue
            for ds in source.datamap.datasets.values():
                rows = self._dataset(name, ds, person, outcome.result)
                if rows is not None:
                    out.append(rows)
        return out

    def _dataset(
        self, system: str, ds: DatasetMap, person: Person, result: WalkResult
    ) -> DatasetRows | None:
        key = (person.key, ds.name)
        scope = person.scope
        columns = ds.fields if ds.fields_only else [*ds.fields, *result.columns.get(key, [])]
        fields = ds.fields
        categories = {c: fields.get(c) for c in dict.fromkeys(columns)}  # ds.category_of
        if scope.categories:
            categories = {c: k for c, k in categories.items() if scope.covers_category(k)}
        if not categories:
            return None
        spool = result.spools.get(key)
        keep = list(categories)
        dated = ds.timestamp if (scope.since or scope.until) else None

        trim = ds.fields_only or bool(scope.categories)
        if not dated and not trim:  # every row as found: a small spool's list as it is
            held = [] if spool is None else spool.in_memory()
            if held is not None:
                return DatasetRows(system, ds.name, categories, held)

        def rows() -> Iterator[Row]:
            for row in spool or ():
                if dated and not scope.covers_date(_as_date(row.get(dated))):
                    continue
                yield {c: row.get(c) for c in keep} if trim else row

        count = result.counts.get(key, 0)
        if dated and count:
            count = sum(1 for _ in rows())
        return DatasetRows(system, ds.name, categories, SpooledRows(count, rows))
