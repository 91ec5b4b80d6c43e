"""Moving a request through the transition table, with an audit event for every move."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.domain.clock import utcnow
from ferry.domain.errors import NotFound
from ferry.domain.lifecycle import check_transition, is_hold
from ferry.domain.models import RequestState
from ferry.services import jobs, leases, pauses, state_events
from ferry.services.audit import record
from ferry.store import txn
from ferry.store.audit import lock_chain
from ferry.store.tables import Request


def lock(session: Session, request_id: str) -> Request:
    """The request row, locked until the transaction ends (``SELECT … FOR UPDATE``; SQLite
    serialises writers already): its state cannot change under the caller before the commit.

    The tenant's audit chain is locked first, as every use-case that appends does before it
    changes a request, so two transactions never hold the two locks in opposite orders."""
    tenant_id = session.scalar(select(Request.tenant_id).where(Request.id == request_id))
    if tenant_id is None:
        raise NotFound(f"no request {request_id!r}", code="request_not_found")
    lock_chain(session, tenant_id)
    req = session.get(Request, request_id, with_for_update=True)
    if req is None:
        raise NotFound(f"no request {request_id!r}", code="request_not_found")
    return req


def move(
    session: Session,
    req: Request,
    target: RequestState,
    actor: str,
    data: dict[str, Any] | None = None,
) -> None:
    current = RequestState(req.state)
    check_transition(current, target)
    if is_hold(target) and not is_hold(current):
        req.resume_state = current.value
    if not is_hold(target):
        req.resume_state = None
    leaving_pause = current is RequestState.PAUSED and not is_hold(target)
    if leaving_pause or target is RequestState.VERIFIED:
        pauses.end(session, req, utcnow())  # the clock restarts however the pause ends
    if target is RequestState.COLLECTING:
        leases.take(req)  # the run moving it there works on it (see services.leases)
        if is_hold(current):
            # back from a pause: a run it had was left, so start one once this commits
            rid = req.id
            txn.after_commit(session, lambda: jobs.enqueue("collect", rid, "resume"))
    elif current is RequestState.COLLECTING:
        leases.drop(req)
    req.state = target.value
    record(
        session,
        req.tenant_id,
        actor,
        f"request.{target.value}",
        req.id,
        {"from": current.value, **(data or {})},
    )
    state_events.changed(session, req, current, target, data or {})


def fail_in(session: Session, req: Request, actor: str, reason: str) -> None:
    """Move the request to failed with the reason, in the caller's transaction."""
    req.failure = reason[:2000]
    move(session, req, RequestState.FAILED, actor, {"reason": reason[:500]})
