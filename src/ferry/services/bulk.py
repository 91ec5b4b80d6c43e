"""Many requests at once (``ferry request run --all``), and delivering a partial collection.

Bulk mode walks every system once for all the tenant's verified requests: each lookup carries
every person's values (one ``IN`` query per batch, one pass per file), so the cost grows with
the data plus the number of requests, not their product. Each request then gets its own
package, or its own gap report.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.collect.engine import Outcome
from ferry.db import unit_of_work
from ferry.domain.errors import Conflict, FerryError, IllegalTransition, InvalidInput
from ferry.domain.models import Identity, RequestState, Scope
from ferry.services import (
    delivery,
    gather,
    leases,
    manual,
    notify,
    opendsr_callbacks,
    packaging,
    uploads,
)
from ferry.services.audit import record
from ferry.services.collection import (
    _fail,
    _finish,
    _meta,
    _package,
    begin_in,
    finish_in,
    moved_on,
    review_reason,
    run,
)
from ferry.services.lifecycle import fail_in, lock, move
from ferry.services.requests import load
from ferry.services.views import RequestView
from ferry.settings import get_settings
from ferry.store import requests, systems, tenants
from ferry.store.audit import lock_chain
from ferry.store.tables import Package, Request, Tenant

log = logging.getLogger("ferry.bulk")
MAX_BATCH = 5000
T = TypeVar("T")


@dataclass(frozen=True)
class BulkResult:
    completed: list[str]
    failed: dict[str, str]
    waiting: list[str] = field(default_factory=list)
    """Requests still collecting: a manual system's owner has not uploaded yet."""


def run_all(
    tenant_slug: str, actor: str, limit: int = MAX_BATCH, *, resume: bool = True
) -> BulkResult:
    """Collect every verified request of the tenant together, then package each one. With
    ``resume`` (the agent's ``run --all``), a batch that failed earlier is retried first, in its
    own folder: the systems and lookups it had finished are not read again. The worker's sweep
    passes ``resume=False``: retrying a gap is the agent's decision."""
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        query = (
            select(Request.id)
            .where(Request.tenant_id == tenant.id, Request.state == RequestState.VERIFIED.value)
            .order_by(Request.due_date, Request.received_at)
            .limit(limit)
        )
        ids = list(session.scalars(query))
        tenant_id = tenant.id
        has_manual = any(manual.is_manual(s) for s in systems.for_tenant(session, tenant_id))
    resumed = _failed_batches(tenant_slug, tenant_id) if resume else []
    if has_manual:  # uploads are per request: each is collected on its own
        return _one_by_one([i for _f, batch in resumed for i in batch] + ids, actor, tenant_id)
    result = BulkResult([], {})
    for folder, batch in resumed:
        _merge(result, _batch(tenant_slug, tenant_id, batch, folder, actor))
    if ids:
        key = hashlib.sha256(",".join(ids).encode()).hexdigest()[:16]
        folder = gather.work_folder(tenant_slug, f"bulk-{key}")
        _merge(result, _batch(tenant_slug, tenant_id, ids, folder, actor))
    return result


def _merge(into: BulkResult, part: BulkResult) -> None:
    into.completed.extend(part.completed)
    into.failed.update(part.failed)
    into.waiting.extend(part.waiting)


def _failed_batches(tenant_slug: str, tenant_id: int) -> list[tuple[Path, list[str]]]:
    """Earlier batches with gaps: their requests still failed (the others left the batch, e.g.
    run on their own, delivered partially or withdrawn, and their rows are removed). A batch cut
    by a crash is not taken over here (another worker may still be running it): its requests
    stay ``collecting`` until run on their own, which removes them from it."""
    found: list[tuple[Path, list[str]]] = []
    gone: list[str] = []
    for folder, ids in gather.batches(tenant_slug):
        with unit_of_work() as session:
            query = select(Request.id, Request.state).where(
                Request.tenant_id == tenant_id, Request.id.in_(ids)
            )
            states = {str(i): str(state) for i, state in session.execute(query).all()}
        still = [i for i in ids if states.get(i) == RequestState.FAILED.value]
        gone.extend(i for i in ids if i not in still)
        if still:
            found.append((folder, still))
    if gone:  # every batch's manifest read and written once, not once per request gone
        gather.release_many(tenant_slug, gone)
    return found


def _batch(
    tenant_slug: str, tenant_id: int, ids: list[str], folder: Path, actor: str
) -> BulkResult:
    """One batch: its bookkeeping is done :data:`CHUNK` requests per transaction, each chunk
    appending all its audit events under one lock of the tenant's chain head. A crash loses at
    most the packaging of the chunk in hand: its requests stay ``collecting``, nothing of
    theirs is committed, and they can be run again."""
    result = BulkResult([], {})
    started: list[str] = []
    for some in _chunks(ids):
        started.extend(_start_chunk(some, actor, tenant_id, result))
    ids = started
    if not ids:
        return result
    with unit_of_work() as session:
        sources = gather.sources(session, tenant_id)
        tenant = session.get_one(Tenant, tenant_id)
        found = requests.many(session, ids, tenant_id)
        people: list[gather.Person] = []
        metas = {}
        for request_id in ids:
            req = found[request_id]
            scope = Scope.from_dict(req.scope)
            identities = [Identity.parse(i.type, i.value) for i in req.identities]
            people.append(gather.Person(req.id, identities, scope))
            metas[req.id] = _meta(req, tenant, scope)
        tenant_keys = packaging.Keys.load(session, tenant) if sources else None
    if not sources:
        reason = "this tenant has no systems to collect from; add one with `ferry system add`"
        for i in ids:
            result.failed[i] = _fail(i, actor, reason).failure or reason
        return result
    gather.write_batch(folder, ids)  # before collecting: a crash leaves a batch to resume
    with leases.kept(ids):  # the batch's requests are worked on: see services.leases
        engine = gather.Collection(sources, people, folder)
        outcomes = engine.run()
        for chunk in _chunks(people):
            done: dict[str, tuple[Package, dict[str, list[str]]] | str] = {}
            for person in chunk:
                if engine.gaps():
                    done[person.key] = gather.gap_summary(outcomes) + _RESUME.format(tenant_slug)
                    continue
                try:
                    done[person.key] = _package(
                        tenant_slug,
                        person.key,
                        engine,
                        person,
                        metas[person.key],
                        cleanup=False,
                        tenant_keys=tenant_keys,
                    )
                except FerryError as exc:
                    done[person.key] = exc.message
            _settle_chunk(done, outcomes, actor, tenant_id, result)
    if not engine.gaps():
        gather.remove_work(engine.folder)
    return result


CHUNK = 200


def _chunks(items: list[T]) -> list[list[T]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def _start_chunk(chunk: list[str], actor: str, tenant_id: int, result: BulkResult) -> list[str]:
    """Move these requests to ``collecting`` in one transaction; a request that changed state
    since it was listed (withdrawn, say) is left out and reported."""
    started: list[str] = []
    with unit_of_work() as session, session.no_autoflush:  # one flush, at the commit
        tenant = session.get_one(Tenant, tenant_id)
        found = requests.many(session, chunk, tenant_id)
        opendsr_callbacks.prefetch(session, chunk)
        for request_id in chunk:
            req = found.get(request_id)
            if req is None:
                result.failed[request_id] = "the request is gone"
                continue
            try:
                begin_in(session, req, tenant, actor)
            except IllegalTransition as exc:
                result.failed[request_id] = exc.message
                continue
            started.append(request_id)
    return started


def _settle_chunk(
    done: dict[str, tuple[Package, dict[str, list[str]]] | str],
    outcomes: dict[str, Outcome],
    actor: str,
    tenant_id: int,
    result: BulkResult,
) -> None:
    """Save each request's collection report and move it to ready/review or failed, the whole
    chunk in one transaction. Should that transaction fail (logged), each request is settled on
    its own (as a one-by-one run would), so one bad request cannot hold back the others: one
    that cannot be settled even so is failed with the reason, and the others are settled.
    Notices are written as each request is settled, as in a one-by-one run: those written
    before the chunk's transaction failed are written again when their requests are settled on
    their own."""
    try:
        settled = BulkResult([], {})
        with unit_of_work() as session, session.no_autoflush:
            # written in one flush at the commit: a few statements for the whole chunk; the
            # chain first, then the rows, locked (the sweep may have failed one meanwhile)
            tenant = lock_chain(session, tenant_id)
            found = requests.many(session, list(done), tenant_id, lock=True)
            opendsr_callbacks.prefetch(session, list(done))
            delivery.prefetch_recipients(session, list(done))
            for request_id, outcome in done.items():
                req = found[request_id]
                if moved_on(req):  # withdrawn, or failed as stalled, while this batch ran
                    settled.failed[request_id] = req.failure or f"the request is {req.state}"
                    if not isinstance(outcome, str):
                        packaging.discard(outcome[0])
                    continue
                gather.save_report(session, request_id, outcomes)
                if isinstance(outcome, str):
                    fail_in(session, req, actor, outcome)
                    settled.failed[request_id] = outcome
                else:
                    finish_in(session, req, tenant, actor, *outcome)
                    settled.completed.append(request_id)
    except Exception:
        log.exception(
            "settling %d bulk requests in one transaction failed; settling each on its own",
            len(done),
        )
        settled = BulkResult([], {})
        for request_id, outcome in done.items():
            _settle_one(request_id, outcome, outcomes, actor, settled)
    result.completed.extend(settled.completed)
    result.failed.update(settled.failed)


def _settle_one(
    request_id: str,
    outcome: tuple[Package, dict[str, list[str]]] | str,
    outcomes: dict[str, Outcome],
    actor: str,
    into: BulkResult,
) -> None:
    """Settle one request as a one-by-one run would; should that fail too, the request is
    recorded as failed with the reason (logged), and the chunk's other requests go on."""
    try:
        with unit_of_work() as session:
            gather.save_report(session, request_id, outcomes)
        if isinstance(outcome, str):
            into.failed[request_id] = _fail(request_id, actor, outcome).failure or outcome
            return
        view = _finish(request_id, actor, *outcome)
        if view.state in (RequestState.READY.value, RequestState.REVIEW.value):
            into.completed.append(request_id)
        else:  # moved on by someone else meanwhile (withdrawn, say)
            into.failed[request_id] = view.failure or f"the request is {view.state}"
        return
    except Exception as exc:
        log.exception("bulk request %s could not be settled", request_id)
        reason = f"its collection could not be recorded: {type(exc).__name__}: {exc}"
    into.failed[request_id] = reason
    try:
        _fail(request_id, actor, reason)
    except Exception:  # reported in the result all the same; the log has both errors
        log.exception("bulk request %s could not be marked failed either", request_id)


_RESUME = (
    " (collected in a bulk batch: `ferry request run --all {}` resumes the batch where it "
    "stopped; `ferry request run ID` collects this request again on its own)"
)


def _one_by_one(ids: list[str], actor: str, tenant_id: int) -> BulkResult:
    result = BulkResult([], {})
    for request_id in ids:
        view = run(request_id, actor, tenant_id)
        if view.state in (RequestState.READY.value, RequestState.REVIEW.value):
            result.completed.append(request_id)
        elif view.state == RequestState.COLLECTING.value and view.waiting_for:
            result.waiting.append(request_id)
        else:
            result.failed[request_id] = view.failure or view.state
    return result


def deliver_partial(
    request_id: str, actor: str, reason: str, tenant_id: int | None = None
) -> RequestView:
    """Package what was collected, stating the gaps in the package, and release it."""
    if not reason.strip():
        raise InvalidInput("say why the request is delivered without the missing systems")
    with unit_of_work() as session:
        req, tenant = load(session, request_id, tenant_id)
        waiting = req.state == RequestState.COLLECTING.value and bool(
            uploads.open_tasks(session, [req.id])
        )
        if req.state != RequestState.FAILED.value and not waiting:
            raise IllegalTransition(
                "only a failed collection, or one waiting for uploads, can be delivered "
                f"partially; this one is {req.state}"
            )
        state = req.state
        gaps = gather.report(session, req.id)
        missing = [g.system for g in gaps if g.status != "done"]
        if not missing:
            raise InvalidInput("no system is missing from this collection; run it again instead")
        scope = Scope.from_dict(req.scope)
        person = gather.Person(
            req.id, [Identity.parse(i.type, i.value) for i in req.identities], scope
        )
        sources = gather.sources(session, tenant.id)
        meta = _meta(req, tenant, scope)
        slug, review = tenant.slug, tenant.review_required
    statement = f"; incomplete: these systems could not be read: {', '.join(missing)}"
    meta = replace(meta, scope=meta.scope + statement)
    folder = gather.folder_for(slug, request_id)  # a bulk batch's, if it was collected in one
    engine = gather.Collection(sources, [person], folder)
    gather.load_finished(engine)
    extra = [gather.gaps_dataset(gaps)]
    # built aside: a collection finishing meanwhile keeps its own package file
    aside = packaging.aside(get_settings().packages_dir / slug / request_id)
    try:
        package, notes = _package(
            slug, request_id, engine, person, meta, extra, cleanup=False, folder=aside
        )
        view = _deliver(request_id, actor, reason, package, notes, state, waiting, missing, review)
    finally:
        shutil.rmtree(aside, ignore_errors=True)  # refused (or failed): the package goes
    gather.release(slug, request_id)  # only now: a refused delivery leaves the rows in place
    return view


def _deliver(
    request_id: str,
    actor: str,
    reason: str,
    package: Package,
    notes: dict[str, list[str]],
    state: str,
    waiting: bool,
    missing: list[str],
    review: bool,
) -> RequestView:
    with unit_of_work() as session:
        req = lock(session, request_id)  # a last upload's collection may have moved it on
        _still_partial(session, req, state, waiting)
        tenant = session.get_one(Tenant, req.tenant_id)
        session.add(package)
        session.flush()
        record(
            session,
            tenant.id,
            actor,
            "collection.delivered_partial",
            req.id,
            {"missing_systems": missing, "reason": reason[:500], "sha256": package.sha256},
        )
        move(session, req, RequestState.REVIEW, actor, {"partial": True, **review_reason(notes)})
        if not review and not notes["review"]:
            move(session, req, RequestState.READY, actor)
            notify.package_ready(session, req, tenant.slug, tenant.name)
        packaging.place(package)  # last: nothing above refused it
        return RequestView.of(req, tenant.slug, package)


def _still_partial(session: Session, req: Request, state: str, waiting: bool) -> None:
    """Refuse the partial delivery if the request changed while its package was built: a
    collection (the last upload's, say) or another agent moved it on, or every upload arrived."""
    if req.state != state:
        raise Conflict(
            f"request {req.id} became {req.state} while its partial package was built; "
            "nothing was delivered (see `ferry request show ID`)",
            code="request_moved_on",
        )
    if waiting and not uploads.open_tasks(session, [req.id]):
        raise Conflict(
            f"the last upload for request {req.id} arrived while its partial package was "
            "built: its collection goes on with every system; nothing was delivered partially",
            code="request_moved_on",
        )
