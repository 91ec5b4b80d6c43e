"""Manual systems' uploads seen from a request: what is still awaited (shown with the request),
and removing what was stored when it is no longer needed.

A request collecting while a system owner has not uploaded stays ``collecting`` with its open
tasks listed (``waiting_for``). Sealed uploads and collected rows are deleted when the request
is withdrawn or rejected, and uploads when the request's package retention ends; each deletion
is an audit event in the transaction that decides it, and the files go once it commits.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.domain.clock import utcnow
from ferry.services import gather
from ferry.services.audit import record
from ferry.settings import get_settings
from ferry.store import txn
from ferry.store.tables import ManualTask, Request

OPEN = ("pending", "expired")
"""Task states still awaited: a link out (``pending``) or one the agent must renew (``expired``)."""


def open_tasks(session: Session, request_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """``{request id: [{system, owner, state, due_date, overdue}]}`` for tasks not uploaded."""
    ids = list(dict.fromkeys(request_ids))
    found: dict[str, list[dict[str, Any]]] = {}
    today = utcnow().date()
    for chunk in txn.id_chunks(ids):
        query = (
            select(ManualTask)
            .where(ManualTask.request_id.in_(chunk))
            .where(ManualTask.state.in_(OPEN))
            .order_by(ManualTask.system)
        )
        for task in session.scalars(query):
            found.setdefault(task.request_id, []).append(
                {
                    "system": task.system,
                    "owner": task.owner,
                    "state": task.state,
                    "due_date": task.due_date.isoformat(),
                    "overdue": task.state == "expired" or task.due_date < today,
                }
            )
    return found


def _close_tasks(session: Session, request_id: str) -> tuple[int, list[str]]:
    """Close every task of the request (links stop working); ``(files, folders to delete)``."""
    files, folders = 0, set()
    query = select(ManualTask).where(ManualTask.request_id == request_id)
    for task in session.scalars(query.with_for_update()):
        for info in task.files.values():
            files += 1
            folders.add(str((get_settings().var_dir / str(info["file"])).parent))
        task.files = {name: {"rows": info.get("rows", 0)} for name, info in task.files.items()}
        if task.state != "uploaded":
            task.state = "cancelled"  # the link answers "closed" from now on
    return files, sorted(folders)


def _delete(folders: list[str]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def purge_uploads(session: Session, req: Request, reason: str) -> int:
    """Delete the request's stored uploads (retention); audited when there were any. Open
    links are closed too: nothing is collected for a request whose package is gone."""
    files, folders = _close_tasks(session, req.id)
    if files:
        record(
            session,
            req.tenant_id,
            "system",
            "manual.uploads.purged",
            req.id,
            {"files": files, "reason": reason},
        )
        txn.after_commit(session, lambda: _delete(folders))
    return files


def purge_request(session: Session, req: Request, tenant_slug: str, reason: str) -> None:
    """Withdrawn or rejected: nothing collected for the request is kept outside the audit log
    (work folders, its rows in a bulk batch, the owners' uploads); open upload links die."""
    files, folders = _close_tasks(session, req.id)
    work = gather.work_folder(tenant_slug, req.id)
    in_bulk = any(req.id in ids for _folder, ids in gather.batches(tenant_slug))
    record(
        session,
        req.tenant_id,
        "system",
        "request.data_purged",
        req.id,
        {
            "reason": reason,
            "uploads": files,
            "work_folder": work.exists(),
            "bulk_batch": in_bulk,
        },
    )

    request_id = req.id

    def delete() -> None:
        _delete(folders)
        gather.release(tenant_slug, request_id)

    txn.after_commit(session, delete)
