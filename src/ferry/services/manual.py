"""Manual systems: an upload task per request for the system's owner, with its own due date.

A system at ``manual:`` / ``manual://OWNER-EMAIL`` cannot be read by Ferry. When a request is
collected, each such system gets a task: its owner is emailed a one-time upload link
(``/u/TOKEN``; only the token's SHA-256 is stored), uploads the person's rows as CSV or JSON
Lines, one file per dataset of the system's map, checked with the file connector's parser.
Uploaded files are sealed at rest (``crypto.box``) and read back only into the collection's
private folder.

While a task is open the request stays ``collecting`` (the statutory clock runs: it is the
client's own system) and shows the task and its due date. The last upload continues the
collection. A task past its due date is a gap: the request fails with it in its gap report and
the agent re-issues the link (``request run``) or delivers partial. An upload arriving after the
package was built without it is kept and the agent told (``request run`` rebuilds the package
before it goes out); once the request is delivered, withdrawn, rejected or closed the link is
refused and nothing is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import tempfile
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.collect.datamap import DatasetMap, load_datamap
from ferry.collect.walk import norm
from ferry.connectors.base import ConnectorError, Row
from ferry.connectors.manual import SCHEME, ManualConnector, owner_of
from ferry.crypto import box
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError, InvalidInput, NotFound
from ferry.domain.models import RequestState
from ferry.services import notify
from ferry.services.audit import record
from ferry.services.lifecycle import fail_in, lock
from ferry.services.requests import load
from ferry.services.uploads import OPEN
from ferry.settings import get_settings
from ferry.store import systems
from ferry.store.tables import AuditEvent, CollectionSystem, ManualTask, Request, System, Tenant

MAX_BYTES = 20 * 2**20
"""Largest upload accepted (one person's rows; a whole export is refused)."""
MAX_ROWS = 200_000
DUE_DAYS = 7
"""Default: the task is due this many days before the request (``connection.due_days``)."""
SUFFIXES = {".csv": ".csv", ".tsv": ".csv", ".jsonl": ".jsonl", ".ndjson": ".jsonl"}
_PURPOSE = "manual-upload"


class LinkGone(FerryError):
    code = "upload_link_gone"
    status = 410


class RequestClosed(LinkGone):
    code = "upload_request_closed"


class WaitingForUploads(FerryError):
    """Not a failure: the request stays ``collecting`` until the owners upload."""

    code = "waiting_for_uploads"
    status = 409


_CLOSED = {
    RequestState.DELIVERED: "was answered already",
    RequestState.CLOSED: "is closed",
    RequestState.WITHDRAWN: "was withdrawn",
    RequestState.REJECTED: "was refused",
}


@dataclass(frozen=True)
class TaskView:
    request_id: str
    system: str
    owner: str | None
    state: str
    due_date: date
    datasets: list[str]
    uploaded: dict[str, int]  # dataset -> rows
    continues: bool = False
    """This upload was the request's last awaited one: its collection is to go on (once)."""

    @property
    def overdue(self) -> bool:
        return self.state == "expired" or (
            self.state == "pending" and self.due_date < utcnow().date()
        )


def is_manual(system: System) -> bool:
    return system.url.strip().startswith(SCHEME)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _view(task: ManualTask, datasets: list[str]) -> TaskView:
    rows = {name: int(info.get("rows", 0)) for name, info in task.files.items()}
    return TaskView(
        task.request_id, task.system, task.owner, task.state, task.due_date, datasets, rows
    )


def _datasets(system: System) -> dict[str, DatasetMap]:
    return dict(load_datamap(system.datamap).datasets)


def _due(req: Request, system: System) -> date:
    days = load_datamap(system.datamap).connection.get("due_days", DUE_DAYS)
    today = utcnow().date()
    return max(today + timedelta(days=1), req.due_date - timedelta(days=int(str(days))))


def prepare(session: Session, req: Request, tenant: Tenant) -> list[str]:
    """Create (or renew, when expired) the request's tasks; the manual systems still waited
    for."""
    waiting = []
    for system in systems.for_tenant(session, tenant.id):
        if not is_manual(system):
            continue
        task = session.scalar(
            select(ManualTask).where(
                ManualTask.request_id == req.id, ManualTask.system == system.name
            )
        )
        renew = task is not None and (task.expires_at <= utcnow() or task.state == "cancelled")
        if task is None or (task.state != "uploaded" and renew):
            _issue(session, req, tenant, system, task)
        elif task.state == "uploaded":
            continue
        waiting.append(system.name)
    return waiting


def _issue(
    session: Session, req: Request, tenant: Tenant, system: System, task: ManualTask | None
) -> None:
    token = secrets.token_urlsafe(32)
    due = _due(req, system)
    owner = owner_of(system.url) or tenant.agent_email
    expires = datetime.combine(due + timedelta(days=1), datetime.min.time())
    action = "manual.task.created" if task is None else "manual.task.reissued"
    if task is None:
        task = ManualTask(request_id=req.id, system=system.name, files={})
        session.add(task)
    task.owner, task.token_hash, task.due_date = owner, _hash(token), due
    task.expires_at, task.state = expires, "pending"
    session.flush()
    record(
        session,
        tenant.id,
        "system",
        action,
        req.id,
        {"system": system.name, "owner": owner, "due": due.isoformat()},
    )
    if owner:
        link = f"{get_settings().public_url.rstrip('/')}/u/{token}"
        body = (
            f"{tenant.name} has a data request ({req.id}) that needs the records your system "
            f"{system.name!r} holds about one person. Upload them by {due.isoformat()} here "
            f"(the link works once and expires then):\n\n{link}\n"
        )
        notify.send(
            session, req, owner, f"Records needed from {system.name}", body, "manual-upload"
        )


def mark_waiting(session: Session, request_id: str, waiting: list[str]) -> None:
    """Show the systems waited for as ``waiting`` in the request's gap report."""
    for system in waiting:
        row = _system_row(session, request_id, system)
        row.status, row.warnings = "waiting", []
        row.error = "waiting for the system owner's upload (`ferry request tasks ID`)"


def _system_row(session: Session, request_id: str, system: str) -> CollectionSystem:
    """The request's gap-report row for ``system`` (made if it has none yet)."""
    row = session.scalar(
        select(CollectionSystem).where(
            CollectionSystem.request_id == request_id, CollectionSystem.system == system
        )
    )
    if row is None:
        row = CollectionSystem(request_id=request_id, system=system, attempts=0, rows=0)
        session.add(row)
    return row


def _task(session: Session, token: str) -> ManualTask:
    task = session.scalar(select(ManualTask).where(ManualTask.token_hash == _hash(token[:200])))
    if task is None:
        raise NotFound("this upload link is not valid", code="upload_link_unknown")
    state = RequestState(session.get_one(Request, task.request_id).state)
    if state in _CLOSED or task.state == "cancelled":
        why = _CLOSED.get(state, "no longer needs these records")
        raise RequestClosed(
            f"the request this link was for {why}; nothing was uploaded or stored. "
            "If you think the records are still needed, contact the privacy team."
        )
    if task.state == "uploaded":
        raise LinkGone("this upload link has already been used")
    if task.expires_at <= utcnow():
        raise LinkGone("this upload link has expired; ask the privacy team for a new one")
    return task


def _refused(token: str) -> None:
    """Record an upload refused because its request is over; tell the agent if the request
    was answered without these records (they may want to send them on). Only the first refusal
    per task is recorded and mailed: a link tried again and again fills neither the audit
    trail nor the agent's inbox."""
    with unit_of_work() as session:
        task = session.scalar(select(ManualTask).where(ManualTask.token_hash == _hash(token[:200])))
        if task is None:
            return
        req, tenant = load(session, task.request_id, None)
        earlier = session.scalars(
            select(AuditEvent.data).where(
                AuditEvent.request_id == req.id, AuditEvent.action == "manual.upload.refused"
            )
        )
        if any(d.get("system") == task.system for d in earlier):
            return
        data = {"system": task.system, "request_state": req.state}
        record(
            session,
            tenant.id,
            f"owner:{task.owner or 'unknown'}",
            "manual.upload.refused",
            req.id,
            data,
        )
        if req.state == RequestState.DELIVERED and tenant.agent_email:
            body = (
                f"The owner of {task.system!r} tried to upload records for request {req.id} after "
                "it was delivered; the upload was refused and nothing was stored. If the "
                "package went out without these records, the person can be sent them under a "
                "new request.\n"
            )
            notify.send(
                session, req, tenant.agent_email, "Late upload refused", body, "manual-late"
            )


def open_task(token: str) -> TaskView:
    """The task behind a link still usable, for the upload page."""
    with unit_of_work() as session:
        task = _task(session, token)
        req, _tenant = load(session, task.request_id, None)
        system = systems.get(session, req.tenant_id, task.system)
        return _view(task, list(_datasets(system)))


def upload(token: str, dataset: str, filename: str, data: bytes) -> TaskView:
    """Check and store one dataset's file; the task is done once every dataset has one."""
    try:
        return _upload(token, dataset, filename, data)
    except RequestClosed:
        _refused(token)
        raise


def _upload(token: str, dataset: str, filename: str, data: bytes) -> TaskView:
    with unit_of_work() as session:
        # the request's row locked first: uploads for one request are stored one at a time, so
        # exactly one of them finds nothing else awaited (the one whose collection goes on)
        request_id = session.scalar(
            select(ManualTask.request_id).where(ManualTask.token_hash == _hash(token[:200]))
        )
        if request_id is not None:
            lock(session, request_id)
        task = _task(session, token)
        req, tenant = load(session, task.request_id, None)
        system = systems.get(session, tenant.id, task.system)
        maps = _datasets(system)
        if not dataset and len(maps) == 1:
            dataset = next(iter(maps))
        if dataset not in maps:
            raise InvalidInput(f"choose one of the datasets: {', '.join(maps)}")
        suffix, rows = _check(req, system, maps[dataset], filename, data)
        path = _store(tenant.slug, req.id, system.name, dataset, suffix, data)
        task.files = {
            **task.files,
            dataset: {
                "file": str(path),
                "suffix": suffix,
                "rows": rows,
                "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            },
        }
        record(
            session,
            tenant.id,
            f"owner:{task.owner or 'unknown'}",
            "manual.uploaded",
            req.id,
            {"system": system.name, "dataset": dataset, "rows": rows, "bytes": len(data)},
        )
        if set(maps) <= set(task.files):
            task.state, task.uploaded_at = "uploaded", utcnow()
            record(
                session, tenant.id, "system", "manual.task.done", req.id, {"system": system.name}
            )
            _late(session, req, tenant, system.name)
            session.flush()
            return replace(_view(task, list(maps)), continues=_nothing_awaited(session, req))
        return _view(task, list(maps))


def _late(session: Session, req: Request, tenant: Tenant, system: str) -> None:
    """A task finished after the collection moved on: keep the upload, tell the agent."""
    state = RequestState(req.state)
    if state is RequestState.COLLECTING:
        return  # the upload page continues the collection (``TaskView.continues``)
    if state in (RequestState.REVIEW, RequestState.READY):
        what = (
            f"The package of request {req.id} was built without {system!r}; its owner has "
            "now uploaded the records. `ferry request run ID` rebuilds the package with them "
            "before it goes out (otherwise it goes out as it is, with the gap stated)."
        )
    else:
        what = (
            f"The owner of {system!r} has uploaded the records for request {req.id} "
            f"(now {state.value}). `ferry request run ID` continues the collection with them."
        )
    record(
        session,
        tenant.id,
        "system",
        "manual.uploaded_late",
        req.id,
        {"system": system, "request_state": state.value},
    )
    if tenant.agent_email:
        notify.send(
            session, req, tenant.agent_email, "Records uploaded", what + "\n", "manual-late"
        )


def _nothing_awaited(session: Session, req: Request) -> bool:
    """Every task of a request still collecting is uploaded: its collection can go on."""
    if req.state != RequestState.COLLECTING.value:
        return False
    query = select(ManualTask.id).where(ManualTask.request_id == req.id, ManualTask.state.in_(OPEN))
    return session.scalar(query.limit(1)) is None


def _check(
    req: Request, system: System, ds: DatasetMap, filename: str, data: bytes
) -> tuple[str, int]:
    if len(data) > MAX_BYTES:
        raise InvalidInput(
            f"the file is larger than {MAX_BYTES // 2**20} MB; upload only this person's rows",
            code="upload_too_large",
        )
    suffix = SUFFIXES.get(Path(filename or "").suffix.lower())
    if suffix is None:
        raise InvalidInput("upload a CSV (.csv) or JSON Lines (.jsonl) file", code="upload_format")
    if not data.strip() or b"\0" in data:
        raise InvalidInput("the file is empty or not a text file", code="upload_unreadable")
    connection = dict(load_datamap(system.datamap).connection)
    with tempfile.TemporaryDirectory(prefix="ferry-upload-") as folder:
        path = Path(folder) / f"{ds.name}{suffix}"
        path.write_bytes(data)
        connector = ManualConnector({ds.name: path}, connection)
        try:
            problems = connector.check(load_datamap(system.datamap))
            rows = [] if problems else connector.all_rows(ds, MAX_ROWS)
        except ConnectorError as exc:
            raise InvalidInput(
                f"the file cannot be read: {exc.message}", code="upload_unreadable"
            ) from None
    if problems:
        raise InvalidInput(
            "the file does not match the data map: " + "; ".join(problems), code="upload_columns"
        )
    _only_this_person(req, ds, rows)
    return suffix, len(rows)


def _only_this_person(req: Request, ds: DatasetMap, rows: list[Row]) -> None:
    """Rows of a dataset with identity columns must each carry one of the person's values."""
    known: dict[str, set[str]] = {}
    for ident in req.identities:
        if ident.type in {str(t) for t in ds.identities}:
            known.setdefault(ident.type, set()).add(str(norm(ident.value)))
    columns = {ds.identities[t]: known[str(t)] for t in ds.identities if str(t) in known}
    if not columns:
        return
    strangers = sum(
        1 for row in rows if not any(str(norm(row.get(c))) in v for c, v in columns.items())
    )
    if strangers:
        raise InvalidInput(
            f"{strangers} rows of the file are not this person's (no matching "
            f"{', '.join(columns)}); upload only the rows of the person in request {req.id}",
            code="upload_other_people",
        )


def _store(slug: str, request_id: str, system: str, dataset: str, suffix: str, data: bytes) -> Path:
    folder = get_settings().var_dir / "manual" / slug / request_id / system
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"{dataset}{suffix}.sealed"
    path.write_bytes(box.seal(get_settings().secret(), _PURPOSE, data))
    return path.relative_to(get_settings().var_dir)  # var/ may move; the record stays valid


def unseal_uploads(session: Session, request_id: str, folder: Path) -> dict[str, dict[str, Path]]:
    """Uploaded files of the request's finished tasks, decrypted into ``folder``:
    ``{system: {dataset: path}}``."""
    found: dict[str, dict[str, Path]] = {}
    secret = get_settings().secret()
    tasks = session.scalars(select(ManualTask).where(ManualTask.request_id == request_id))
    for task in tasks:
        if task.state != "uploaded":
            continue
        target = folder / task.system
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        for dataset, info in task.files.items():
            if "file" not in info:  # purged (retention): nothing to read back
                continue
            path = target / f"{dataset}{info['suffix']}"
            path.write_bytes(
                box.unseal(secret, _PURPOSE, (get_settings().var_dir / info["file"]).read_bytes())
            )
            found.setdefault(task.system, {})[dataset] = path
    return found


def tasks(request_id: str, tenant_id: int | None = None) -> list[TaskView]:
    with unit_of_work() as session:
        req, _tenant = load(session, request_id, tenant_id)
        query = select(ManualTask).where(ManualTask.request_id == req.id)
        found = []
        for task in session.scalars(query.order_by(ManualTask.system)):
            system = systems.find(session, req.tenant_id, task.system)
            found.append(_view(task, list(_datasets(system)) if system else []))
        return found


def waiting_message(waiting: list[str]) -> str:
    return (
        "waiting for the system owners' uploads: "
        + ", ".join(waiting)
        + ". The request continues when they upload (`ferry request tasks ID`), or deliver "
        "what was found with `ferry request deliver-partial ID --reason ...`"
    )


def expire_overdue() -> list[str]:
    """Mark tasks whose link expired unanswered as ``expired`` (once each, audited, the
    tenant's agent told); ``request system due-date`` for each. A request waiting for it
    fails with the system as a gap; the agent's next ``request run`` sends the owner a new
    link, or the agent delivers partial. A task of a request already answered or ended is
    closed quietly; one whose request went out partially is marked without an email."""
    found = []
    with unit_of_work() as session:
        query = select(ManualTask).where(
            ManualTask.state == "pending", ManualTask.expires_at <= utcnow()
        )
        for task in session.scalars(query.with_for_update()).all():
            req, tenant = load(session, task.request_id, None)
            if RequestState(req.state) in _CLOSED:  # nothing waits for it any more
                task.state = "cancelled"
                continue
            task.state = "expired"
            data = {"system": task.system, "owner": task.owner, "due": task.due_date.isoformat()}
            record(session, tenant.id, "system", "manual.task.expired", req.id, data)
            if req.state == RequestState.COLLECTING.value:
                _overdue_gap(session, req, task)
            needs_agent = req.state == RequestState.FAILED.value  # not a package out already
            if tenant.agent_email and needs_agent:
                body = (
                    f"The owner of {task.system!r} ({task.owner or 'no owner set'}) did not "
                    f"upload the records for request {req.id} by {task.due_date.isoformat()}. "
                    "Run `ferry request run ID` to send a new link, or deliver partial.\n"
                )
                notify.send(
                    session, req, tenant.agent_email, "Upload overdue", body, "manual-overdue"
                )
            found.append(f"{req.id} {task.system} {task.due_date.isoformat()}")
    return found


def _overdue_gap(session: Session, req: Request, task: ManualTask) -> None:
    """The request waited for this task in vain: the system is a gap, the request fails."""
    problem = (
        f"the owner ({task.owner or 'no owner set'}) did not upload by {task.due_date.isoformat()}"
    )
    row = _system_row(session, req.id, task.system)
    row.status, row.error, row.warnings = "failed", problem, []
    reason = (
        f"collection is incomplete; manual system {task.system!r}: {problem}. Send a new link "
        "with `ferry request run ID`, or deliver what was found with "
        "`ferry request deliver-partial ID --reason ...`"
    )
    fail_in(session, req, "system", reason)
