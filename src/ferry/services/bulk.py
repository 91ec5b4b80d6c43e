"""Many requests at once (``ferry request run --all``), and delivering a partial collection.

Bulk mode walks every system once for all the tenant's verified requests: each lookup carries
every person's values (one ``IN`` query per batch, one pass per file), so the cost grows with
the data plus the number of requests, not their product. Each request then gets its own
package, or its own gap report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

from sqlalchemy import select

from ferry.db import unit_of_work
from ferry.domain.errors import FerryError, IllegalTransition, InvalidInput
from ferry.domain.models import Identity, RequestState, Scope
from ferry.services import gather, manual, notify
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


def run_all(tenant_slug: str, actor: str, limit: int = MAX_BATCH) -> BulkResult:
    """Collect every verified request of the tenant together, then package each one."""
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
    if not ids:
        return BulkResult([], {})
    if has_manual:  # uploads are per request: each is collected on its own
        return _one_by_one(ids, actor, tenant_id)
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
    batch = hashlib.sha256(",".join(ids).encode()).hexdigest()[:16]
    engine = gather.Collection(sources, people, gather.work_folder(tenant_slug, f"bulk-{batch}"))
    outcomes = engine.run()
    result = BulkResult([], {})
    for person in people:
        with unit_of_work() as session:
            gather.save_report(session, person.key, outcomes)
        if engine.gaps():
            result.failed[person.key] = gather.gap_summary(outcomes)
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


def _one_by_one(ids: list[str], actor: str, tenant_id: int) -> BulkResult:
    result = BulkResult([], {})
    for request_id in ids:
        view = run(request_id, actor, tenant_id)
        if view.state in (RequestState.READY.value, RequestState.REVIEW.value):
            result.completed.append(request_id)
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
        if req.state != RequestState.FAILED.value:
            raise IllegalTransition(
                f"only a failed collection can be delivered partially; this one is {req.state}"
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
    engine = gather.Collection(sources, [person], gather.work_folder(slug, request_id))
    gather.load_finished(engine)
    package, _notes = _package(slug, request_id, engine, person, meta, [gather.gaps_dataset(gaps)])
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
        move(session, req, RequestState.REVIEW, actor, {"partial": True})
        if not review:
            move(session, req, RequestState.READY, actor)
            notify.package_ready(session, req, tenant.slug, tenant.name)
        return RequestView.of(req, tenant.slug, package)
