"""Collection: gather the person's records from every system, package them, move the request on."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session

from ferry.collect.engine import Outcome
from ferry.db import unit_of_work
from ferry.domain.errors import FerryError, IllegalTransition
from ferry.domain.models import DatasetRows, Identity, RequestState, Scope
from ferry.export.package import PackageMeta
from ferry.services import gather, leases, manual, notify, packaging, uploads
from ferry.services.audit import record
from ferry.services.lifecycle import fail_in, lock, move
from ferry.services.requests import load
from ferry.services.views import RequestView
from ferry.settings import get_settings
from ferry.store import requests, tenants
from ferry.store.tables import Package, Request, Tenant

log = logging.getLogger("ferry.collection")
_STARTABLE = (RequestState.VERIFIED, RequestState.FAILED, RequestState.REVIEW)
_REBUILDABLE = RequestState.READY  # not yet delivered: back to review, then collected again


def start(request_id: str, actor: str, tenant_id: int | None = None) -> RequestView:
    """Move the request to ``collecting`` (a request already collecting may be run again)."""
    with unit_of_work() as session:
        req, tenant = load(session, request_id, tenant_id)
        begin_in(session, req, tenant, actor)
        return RequestView.of(req, tenant.slug)


def run(request_id: str, actor: str, tenant_id: int | None = None) -> RequestView:
    start(request_id, actor, tenant_id)
    return execute(request_id, actor)


def execute(request_id: str, actor: str) -> RequestView:
    """The job body: collect, package, then review/ready or failed (with the reason).

    Safe to run twice (the ``collect`` job may be redelivered, or two continuations queued): a
    request no longer collecting, finished by another run or moved on by the agent, is left as
    it is, and one that another run finishes meanwhile keeps that run's outcome."""
    with unit_of_work() as session:
        req, tenant = _locked(session, request_id)
        if moved_on(req):
            return RequestView.of(req, tenant.slug, requests.latest_package(session, req.id))
        leases.take(req)  # this run works on it now (a queued job, an upload's continuation)
    try:
        with leases.kept([request_id]):
            package, notes, outcomes = _collect_and_package(request_id)
    except manual.WaitingForUploads as exc:
        return _wait(request_id, actor, exc.message)
    except FerryError as exc:
        return _fail(request_id, actor, exc.message)
    except Exception as exc:  # a client system can fail in any way; record it, never lose it
        return _fail(request_id, actor, f"{type(exc).__name__}: {exc}")
    return _finish(request_id, actor, package, notes, outcomes)


Collected = tuple[Package, dict[str, list[str]], dict[str, Outcome]]


def _collect_and_package(request_id: str) -> Collected:
    scratch = Path(tempfile.mkdtemp(prefix="ferry-manual-"))  # uploads, decrypted, this run only
    try:
        return _collect_from(request_id, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _collect_from(request_id: str, scratch: Path) -> Collected:
    """Everything the collection needs from the store is read in one transaction; the
    collection report is saved with the outcome (with the package, or before failing)."""
    with unit_of_work() as session:
        req, tenant = load(session, request_id, None)
        person = gather.Person(
            req.id,
            [Identity.parse(i.type, i.value) for i in req.identities],
            Scope.from_dict(req.scope),
        )
        waiting = manual.prepare(session, req, tenant)
        if waiting:
            session.commit()  # tasks and emails stand whatever happens next
        unsealed = manual.unseal_uploads(session, request_id, scratch)
        sources = gather.sources(session, tenant.id, unsealed)
        meta = _meta(req, tenant, person.scope)
        slug = tenant.slug
        device_only = req.kind == "device"  # only the datasets the map marks as device data
        tenant_keys = packaging.Keys.load(session, tenant) if sources else None
    if not sources:
        raise FerryError(
            "this tenant has no systems to collect from; add one with `ferry system add`",
            code="no_systems",
        )
    folder = gather.work_folder(slug, request_id)
    engine = gather.Collection(sources, [person], folder)
    outcomes = engine.run()
    if waiting or engine.gaps():
        with unit_of_work() as session:
            gather.save_report(session, request_id, outcomes)
            manual.mark_waiting(session, request_id, waiting)
        if waiting and not [o for o in engine.gaps() if o.system not in waiting]:
            raise manual.WaitingForUploads(manual.waiting_message(waiting))
        also = f"; still waiting for uploads from: {', '.join(waiting)}" if waiting else ""
        raise gather.GapError(gather.gap_summary(outcomes) + also)
    try:
        package, notes = _package(
            slug,
            request_id,
            engine,
            person,
            meta,
            device_only=device_only,
            tenant_keys=tenant_keys,
        )
    except BaseException:
        with unit_of_work() as session:  # the report stands: every system was read
            gather.save_report(session, request_id, outcomes)
        raise
    return package, notes, outcomes


def _is_device(engine: gather.Collection, rows: DatasetRows) -> bool:
    """A dataset the data map marks as device data (settings, preferences, activity)."""
    source = engine.sources.get(rows.system)
    found = source.datamap.datasets.get(rows.dataset) if source else None
    return found is not None and found.device is not None


def _meta(req: Request, tenant: Tenant, scope: Scope) -> PackageMeta:
    return PackageMeta(
        tenant=tenant.name,
        request_id=req.id,
        created=req.received_at,
        subject_label="the person who made this request",
        kind=req.kind,
        scope=_describe(scope),
        formats=packaging.formats_for(req, tenant),
    )


def _package(
    slug: str,
    request_id: str,
    engine: gather.Collection,
    person: gather.Person,
    meta: PackageMeta,
    extra: list[DatasetRows] | None = None,
    cleanup: bool = True,
    device_only: bool = False,
    tenant_keys: packaging.Keys | None = None,
    folder: Path | None = None,
) -> tuple[Package, dict[str, list[str]]]:
    """Write the package from the engine's spools (filtered, redacted, signed, encrypted at
    rest), then delete the work folder. A bulk run passes the tenant's keys, read once. The
    package is built aside in the request's package folder (or in ``folder``): whoever records
    it moves it into place (``packaging.place``), or discards it."""
    if tenant_keys is None:
        with unit_of_work() as session:
            tenant_keys = packaging.Keys.load(session, tenants.get_by_slug(session, slug))
    found = engine.datasets(person)
    if device_only:  # a device request holds only what the map marks as device data
        found = [d for d in found if _is_device(engine, d)]
    for data in found:
        source = engine.sources.get(data.system)
        packaging.add_hints(data, source.datamap.datasets.get(data.dataset) if source else None)
    datasets, report = packaging.prepare(
        meta.kind, person.identities, [*found, *(extra or [])], tenant_keys.known_people
    )
    folder = folder or packaging.aside(get_settings().packages_dir / slug / request_id)
    package = packaging.build(folder, datasets, meta, tenant_keys, report, request_id)
    if cleanup:  # its own folder, and its rows in a bulk batch it failed in earlier
        gather.release(slug, request_id)
    review = packaging.needs_review(report)
    notes = {
        "unreachable": engine.unreachable(person),
        "discovered": sorted({i.type.value for i in engine.discovered(person)}),
        "review": [review] if review else [],
    }
    return package, notes


def _describe(scope: Scope) -> str:
    if not scope.is_partial:
        return "everything the company holds about you"
    parts = []
    if scope.categories:
        parts.append("data categories: " + ", ".join(scope.categories))
    if scope.systems:
        parts.append("systems: " + ", ".join(scope.systems))
    if scope.since or scope.until:
        parts.append(f"dated from {scope.since or 'the beginning'} to {scope.until or 'today'}")
    return "; ".join(parts)


def _finish(
    request_id: str,
    actor: str,
    package: Package,
    notes: dict[str, list[str]],
    outcomes: dict[str, Outcome] | None = None,
) -> RequestView:
    with unit_of_work() as session:
        req, tenant = _locked(session, request_id)
        if moved_on(req):  # another run finished it first: its package stands
            packaging.discard(package)
            return RequestView.of(req, tenant.slug, requests.latest_package(session, req.id))
        if outcomes is not None:
            gather.save_report(session, request_id, outcomes)
        finish_in(session, req, tenant, actor, package, notes)
        session.flush()  # the package's defaults, for the view
        return RequestView.of(req, tenant.slug, package)


def review_reason(notes: dict[str, list[str]]) -> dict[str, str]:
    """The audit data saying why a package must be reviewed, if it must."""
    return {"review_required": notes["review"][0]} if notes.get("review") else {}


def finish_in(
    session: Session,
    req: Request,
    tenant: Tenant,
    actor: str,
    package: Package,
    notes: dict[str, list[str]],
) -> None:
    """Record the package and move the request to review or ready, in the caller's transaction."""
    session.add(package)
    req.failure = None
    record(
        session,
        tenant.id,
        actor,
        "package.created",
        req.id,
        {
            "sha256": package.sha256,
            "bytes": package.size,
            "files": len(package.files),
            "unreachable_datasets": notes["unreachable"],
            "discovered_identity_types": sorted(set(notes["discovered"])),
            "signed_by": package.signed_by,
            "redactions": package.redactions or {},
            **review_reason(notes),
        },
    )
    must_review = tenant.review_required or bool(notes.get("review"))
    target = RequestState.REVIEW if must_review else RequestState.READY
    move(session, req, target, actor)
    if target is RequestState.READY:
        notify.package_ready(session, req, tenant.slug, tenant.name)
    packaging.place(package)  # last: nothing above refused it


def _locked(session: Session, request_id: str) -> tuple[Request, Tenant]:
    req = lock(session, request_id)
    return req, session.get_one(Tenant, req.tenant_id)


def moved_on(req: Request) -> bool:
    """The request is no longer collecting: a collection has nothing to record on it."""
    if req.state == RequestState.COLLECTING.value:
        return False
    log.info(
        "request %s is %s, not collecting: this collection leaves it as it is", req.id, req.state
    )
    return True


def _fail(request_id: str, actor: str, reason: str) -> RequestView:
    with unit_of_work() as session:
        req, tenant = _locked(session, request_id)
        if moved_on(req):
            return RequestView.of(req, tenant.slug, requests.latest_package(session, req.id))
        fail_in(session, req, actor, reason)
        view = RequestView.of(req, tenant.slug, requests.latest_package(session, req.id))
        return replace(view, waiting_for=uploads.open_tasks(session, [req.id]).get(req.id, []))


def _wait(request_id: str, actor: str, message: str) -> RequestView:
    """Everything readable is collected; the request stays ``collecting`` for the uploads."""
    with unit_of_work() as session:
        req, tenant = _locked(session, request_id)
        if moved_on(req):
            return RequestView.of(req, tenant.slug, requests.latest_package(session, req.id))
        req.failure = None
        leases.drop(req)  # nobody works on it until the upload comes: never taken for stalled
        waiting = uploads.open_tasks(session, [req.id]).get(req.id, [])
        record(
            session,
            tenant.id,
            actor,
            "collection.waiting",
            req.id,
            {"systems": [t["system"] for t in waiting], "due": [t["due_date"] for t in waiting]},
        )
        view = RequestView.of(req, tenant.slug, requests.latest_package(session, req.id))
        return replace(view, waiting_for=waiting)


def begin_in(session: Session, req: Request, tenant: Tenant, actor: str) -> None:
    """Move the request to ``collecting`` in the caller's transaction (see :func:`start`)."""
    state = RequestState(req.state)
    if state is RequestState.COLLECTING:
        leases.refuse_if_held(req)  # another run is at it; a dead run's lease has run out
        leases.take(req)
        record(session, tenant.id, actor, "collection.restarted", req.id)
    elif state is _REBUILDABLE:
        move(session, req, RequestState.REVIEW, actor, {"rebuild": True})
        move(session, req, RequestState.COLLECTING, actor)
    elif state in _STARTABLE:
        move(session, req, RequestState.COLLECTING, actor)
    else:
        hint = " verify the person first" if state is RequestState.AWAITING_VERIFICATION else ""
        raise IllegalTransition(f"a request that is {state.value} cannot be collected;{hint}")
