"""Run the collection engine for requests: sources from the store, gap reports, work folders.

A request's rows and progress live in ``var/work/TENANT/REQUEST/`` while it is collected (so a
crash or a failed system resumes where it stopped) and are deleted once its package is written.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ferry.collect.datamap import DataMap, load_datamap
from ferry.collect.engine import Collection, Outcome, Person, Source

__all__ = ["Collection", "GapError", "Person", "Source"]
from ferry.collect.spool import ProgressLog
from ferry.collect.walk import WalkResult
from ferry.connectors.base import Connector
from ferry.connectors.manual import SCHEME as MANUAL
from ferry.connectors.manual import WAITING, ManualConnector
from ferry.connectors.registry import open_connector
from ferry.crypto.secretbox import unseal
from ferry.db import unit_of_work
from ferry.domain.errors import FerryError
from ferry.domain.models import DatasetRows
from ferry.settings import get_settings
from ferry.store import systems
from ferry.store.tables import CollectionSystem


class GapError(FerryError):
    """Some systems could not be collected; the request carries a gap report."""

    code = "collection_gaps"
    status = 502


@dataclass(frozen=True)
class GapView:
    system: str
    status: str
    error: str | None
    attempts: int
    rows: int
    warnings: list[str]


def sources(
    session: Session, tenant_id: int, uploads: dict[str, dict[str, Path]] | None = None
) -> list[Source]:
    """The tenant's systems as engine sources (credentials decrypted only inside ``open``);
    manual systems read ``uploads`` (``{system: {dataset: file}}``, one request's)."""
    secret = get_settings().secret()
    found = []
    for system in systems.for_tenant(session, tenant_id):
        datamap = _datamap(system.datamap, system.name)
        if system.url.strip().startswith(MANUAL):  # local files: a retry would not help
            once = datamap.collection.model_copy(update={"retries": 0})
            files = None if uploads is None else uploads.get(system.name, WAITING)
            opener = _manual(files, datamap.connection)
            found.append(
                Source(system.name, datamap.model_copy(update={"collection": once}), opener)
            )
            continue
        found.append(
            Source(
                system.name,
                datamap,
                _opener(system.url, datamap.connection, system.credentials, secret),
            )
        )
    return found


@lru_cache(maxsize=256)
def _datamap(text: str, name: str) -> DataMap:
    """Parsed once per map text: parsing YAML costs more than collecting a small person."""
    return load_datamap(text).model_copy(update={"system": name})


def _opener(
    url: str, connection: dict[str, object], sealed: str | None, secret: str
) -> Callable[[], Connector]:
    def open_() -> Connector:
        return open_connector(url, dict(connection), unseal(secret, sealed))

    return open_


def _manual(
    files: dict[str, Path] | str | None, connection: dict[str, object]
) -> Callable[[], Connector]:
    return lambda: ManualConnector(files, dict(connection))


def work_folder(tenant_slug: str, key: str) -> Path:
    return get_settings().var_dir / "work" / tenant_slug / key


def save_report(session: Session, request_id: str, outcomes: dict[str, Outcome]) -> None:
    """Replace the request's per-system report with these outcomes."""
    session.execute(delete(CollectionSystem).where(CollectionSystem.request_id == request_id))
    for outcome in outcomes.values():
        session.add(
            CollectionSystem(
                request_id=request_id,
                system=outcome.system,
                status=outcome.status,
                error=(outcome.error or "")[:2000] or None,
                attempts=outcome.attempts,
                rows=outcome.rows_for(request_id),
                warnings=list(outcome.warnings),
            )
        )


def report(session: Session, request_id: str) -> list[GapView]:
    query = (
        select(CollectionSystem)
        .where(CollectionSystem.request_id == request_id)
        .order_by(CollectionSystem.system)
    )
    return [
        GapView(r.system, r.status, r.error, r.attempts, r.rows, list(r.warnings))
        for r in session.scalars(query)
    ]


def gap_summary(outcomes: dict[str, Outcome]) -> str:
    failed = [o for o in outcomes.values() if o.status == "failed"]
    parts = [f"system {o.system!r} failed after {o.attempts} attempts: {o.error}" for o in failed]
    return (
        "collection is incomplete; "
        + "; ".join(parts)
        + ". Retry with `ferry request run ID`, or deliver what was found with "
        "`ferry request deliver-partial ID --reason ...`"
    )


def gaps_dataset(gaps: list[GapView]) -> DatasetRows:
    """What could not be collected, stated in the package itself."""
    rows: list[dict[str, object]] = [
        {"system": g.system, "status": g.status, "problem": g.error, "notes": "; ".join(g.warnings)}
        for g in gaps
        if g.status != "done" or g.warnings
    ]
    categories: dict[str, str | None] = {
        "system": None,
        "status": None,
        "problem": None,
        "notes": None,
    }
    return DatasetRows("ferry", "gaps", categories, rows)


def load_finished(collection: Collection) -> None:
    """Mark systems whose walk finished earlier as done (for a partial delivery)."""
    for name in collection.sources:
        outcome = collection.outcomes[name]
        for entry in reversed(ProgressLog(collection.folder / name / "progress.jsonl").read()):
            if entry.get("done") or entry.get("partial"):
                result = WalkResult.from_json(entry["result"], collection.folder / name)
                outcome.status, outcome.result = "done", result
                break
        else:
            outcome.status = "failed"


def remove_work(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def show_report(request_id: str) -> list[GapView]:
    with unit_of_work() as session:
        return report(session, request_id)
