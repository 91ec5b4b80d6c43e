"""Run the collection engine for requests: sources from the store, gap reports, work folders.

A request's rows and progress live in ``var/work/TENANT/REQUEST/`` while it is collected (so a
crash or a failed system resumes where it stopped) and are deleted once its package is written.
"""

from __future__ import annotations

import json
import logging
import os
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

log = logging.getLogger("ferry.gather")


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


# --- bulk batches -------------------------------------------------------------------------
# A bulk run collects many requests in one folder, ``var/work/TENANT/bulk-KEY/``; its
# ``batch.json`` names the requests, so a failed batch is resumed by the next ``run --all``
# and each request can be found (partial delivery) or removed (withdrawal) from it.

_MANIFEST = "batch.json"


def write_batch(folder: Path, request_ids: list[str]) -> None:
    """Write the batch's manifest whole or not at all (staged, then renamed): a crash never
    leaves one half written, which would hide the batch's rows from resuming and releasing."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    staged = folder / f".{_MANIFEST}.partial"
    staged.write_text(json.dumps({"requests": request_ids}), encoding="utf-8")
    os.replace(staged, folder / _MANIFEST)


def batches(tenant_slug: str) -> list[tuple[Path, list[str]]]:
    """The tenant's bulk folders still on disk (a failed batch) with their requests. A manifest
    that is not a list of request ids (edited by hand, damaged) is logged and left alone: its
    folder needs a person, not a guess."""
    found = []
    for manifest in sorted(
        (get_settings().var_dir / "work" / tenant_slug).glob(f"bulk-*/{_MANIFEST}")
    ):
        ids = _manifest_ids(manifest)
        if ids is None:
            log.error("bulk batch manifest %s is unreadable; the batch is left as it is", manifest)
            continue
        found.append((manifest.parent, ids))
    return found


def _manifest_ids(manifest: Path) -> list[str] | None:
    try:
        ids = json.loads(manifest.read_text(encoding="utf-8"))["requests"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return None
    return ids


def folder_for(tenant_slug: str, request_id: str) -> Path:
    """Where the request's rows are: a bulk batch's folder if it was collected in one."""
    for folder, ids in batches(tenant_slug):
        if request_id in ids:
            return folder
    return work_folder(tenant_slug, request_id)


def release(tenant_slug: str, request_id: str) -> dict[str, int]:
    """Delete the request's collected rows: its own work folder, and its rows in (and its place
    on) any bulk batch; a batch nobody is left in goes entirely."""
    return release_many(tenant_slug, [request_id])


def release_many(tenant_slug: str, request_ids: list[str]) -> dict[str, int]:
    """:func:`release` for several requests at once: the bulk batches are listed once, and each
    batch holding any of them has its folder listed once and its manifest written once."""
    leaving = set(request_ids)
    gone = {"work_folders": 0, "bulk_spools": 0}
    for request_id in leaving:
        own = work_folder(tenant_slug, request_id)
        gone["work_folders"] += int(own.exists())
        remove_work(own)
    for folder, ids in batches(tenant_slug):
        if leaving.isdisjoint(ids):
            continue
        for spool in folder.glob("*/*.spool"):  # OWNER.DATASET.spool; OWNER has no dot
            if spool.name.partition(".")[0] in leaving:
                spool.unlink(missing_ok=True)
                gone["bulk_spools"] += 1
        rest = [i for i in ids if i not in leaving]
        if rest:
            write_batch(folder, rest)
        else:
            remove_work(folder)  # nobody is left in it
    return gone


def show_report(request_id: str) -> list[GapView]:
    with unit_of_work() as session:
        return report(session, request_id)
