"""Many requests at once (``ferry request run --all``), and delivering a partial collection.

Bulk mode walks every system once for all the tenant's verified requests: each lookup carries
every person's values (one ``IN`` query per batch, one pass per file), so the cost grows with
the data plus the number of requests, not their product. Each request then gets its own
package, or its own gap report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import select

from ferry.db import unit_of_work
from ferry.domain.errors import FerryError, IllegalTransition, InvalidInput
from ferry.domain.models import Identity, RequestState, Scope
from ferry.services import gather, manual, notify, uploads
from ferry.services.audit import record
from ferry.services.collection import _fail, _finish, _meta, _package, run, start
from ferry.services.lifecycle import move
from ferry.services.requests import load
from ferry.services.views import RequestView
from ferry.store import systems, tenants
from ferry.store.tables import Request

MAX_BATCH = 5000


@dataclass(frozen=True)
class BulkResult:
    completed: list[str]
    failed: dict[str, str]
    waiting: list[str] = field(default_factory=list)
    """Requests still collecting: a manual system's owner has not uploaded yet."""


def _why(notes: dict[str, list[str]]) -> dict[str, str]:
    return {"review_required": notes["review"][0]} if notes["review"] else {}


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
    found = []
    for folder, ids in gather.batches(tenant_slug):
        with unit_of_work() as session:
            query = select(Request.id, Request.state).where(
                Request.tenant_id == tenant_id, Request.id.in_(ids)
            )
            states = {str(i): str(state) for i, state in session.execute(query).all()}
        still = [i for i in ids if states.get(i) == RequestState.FAILED.value]
        for gone in [i for i in ids if i not in still]:
            gather.release(tenant_slug, gone)
        if still:
            found.append((folder, still))
    return found


def _batch(
    tenant_slug: str, tenant_id: int, ids: list[str], folder: Path, actor: str
) -> BulkResult:
    for request_id in ids:
        start(request_id, actor, tenant_id)
    with unit_of_work() as session:
        sources = gather.sources(session, tenant_id)
        people, metas = [], {}
        for request_id in ids:
            req, tenant = load(session, request_id, tenant_id)
            scope = Scope.from_dict(req.scope)
            identities = [Identity.parse(i.type, i.value) for i in req.identities]
            people.append(gather.Person(req.id, identities, scope))
            metas[req.id] = _meta(req, tenant, scope)
    if not sources:
        reason = "this tenant has no systems to collect from; add one with `ferry system add`"
        return BulkResult([], {i: _fail(i, actor, reason).failure or reason for i in ids})
    gather.write_batch(folder, ids)  # before collecting: a crash leaves a batch to resume
    engine = gather.Collection(sources, people, folder)
    outcomes = engine.run()
    result = BulkResult([], {})
    for person in people:
        with unit_of_work() as session:
            gather.save_report(session, person.key, outcomes)
        if engine.gaps():
            result.failed[person.key] = gather.gap_summary(outcomes) + _RESUME.format(tenant_slug)
            _fail(person.key, actor, result.failed[person.key])
            continue
        try:
            package, notes = _package(
                tenant_slug, person.key, engine, person, metas[person.key], cleanup=False
            )
        except FerryError as exc:
            result.failed[person.key] = exc.message
            _fail(person.key, actor, exc.message)
            continue
        _finish(person.key, actor, package, notes)
        result.completed.append(person.key)
    if not engine.gaps():
        gather.remove_work(engine.folder)
    return result


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
    package, notes = _package(slug, request_id, engine, person, meta, extra, cleanup=False)
    gather.release(slug, request_id)
    with unit_of_work() as session:
        req, tenant = load(session, request_id, None)
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
        move(session, req, RequestState.REVIEW, actor, {"partial": True, **_why(notes)})
        if not review and not notes["review"]:
            move(session, req, RequestState.READY, actor)
            notify.package_ready(session, req, tenant.slug, tenant.name)
        return RequestView.of(req, tenant.slug, package)
