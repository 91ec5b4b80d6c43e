"""Request clocks and tenant SLA settings."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from ferry.store import txn
from ferry.store.tables import Request, RequestClock, RequestIdentity, TenantSla

OPEN_STATES_EXCLUDED = ("delivered", "closed", "rejected", "withdrawn")

_CLOCK = select(RequestClock).where(RequestClock.request_id == bindparam("request_id"))
_CLOCK_LOCKED = _CLOCK.with_for_update()  # both built once (see store.tenants)
_SLA = select(TenantSla).where(TenantSla.tenant_id == bindparam("key"))


def sla_for(session: Session, tenant_id: int) -> TenantSla | None:
    """The tenant's SLA settings, without flushing the transaction's pending rows for it."""
    with session.no_autoflush:
        found = txn.by_key(session, _SLA, TenantSla, tenant_id)
    if found is not None:
        return found
    return next((r for r in txn.pending(session, TenantSla) if r.tenant_id == tenant_id), None)


def clock_for(session: Session, request_id: str, *, lock: bool = False) -> RequestClock | None:
    """The request's clock; ``lock`` locks it for the rest of the transaction, and a clock
    locked before in the same transaction is the row in hand (no second read)."""
    key = ("clocks.locked", request_id)
    if lock:
        held: RequestClock | None = txn.memo(session).get(key)
        if held is not None and held in session and held not in session.deleted:
            return held
    query = _CLOCK_LOCKED if lock else _CLOCK
    found = session.scalars(query, {"request_id": request_id}).one_or_none()
    if lock and found is not None:
        txn.memo(session)[key] = found
    return found


def open_request_ids(session: Session) -> list[str]:
    """Every request whose clock still runs (any tenant), oldest due first."""
    query = (
        select(Request.id)
        .where(Request.state.not_in(OPEN_STATES_EXCLUDED))
        .order_by(Request.due_date, Request.id)
    )
    return list(session.scalars(query))


def open_with_clocks(
    session: Session,
) -> list[tuple[str, str, date, RequestClock | None, TenantSla | None]]:
    """Every open request with its clock and its tenant's SLA settings, in one query."""
    query = (
        select(Request.id, Request.state, Request.due_date, RequestClock, TenantSla)
        .outerjoin(RequestClock, RequestClock.request_id == Request.id)
        .outerjoin(TenantSla, TenantSla.tenant_id == Request.tenant_id)
        .where(Request.state.not_in(OPEN_STATES_EXCLUDED))
        .order_by(Request.due_date, Request.id)
    )
    return [(r[0], r[1], r[2], r[3], r[4]) for r in session.execute(query)]


def due_by(session: Session, tenant_id: int, last_day: date) -> list[Request]:
    query = (
        select(Request)
        .where(
            Request.tenant_id == tenant_id,
            Request.due_date <= last_day,
            Request.state.not_in(OPEN_STATES_EXCLUDED),
        )
        .order_by(Request.due_date, Request.created_at)
    )
    return list(session.scalars(query))


def count_prior(
    session: Session,
    req: Request,
    kinds: list[str],
    since: datetime,
    identities: list[tuple[str, str]],
) -> int:
    """Earlier requests of the same person (any shared identity), jurisdiction and kinds."""
    if not identities:
        return 0
    same_person = select(RequestIdentity.request_id).where(
        func.lower(RequestIdentity.type + ":" + RequestIdentity.value).in_(
            [f"{t}:{v}".lower() for t, v in identities]
        )
    )
    query = select(func.count(Request.id)).where(
        Request.tenant_id == req.tenant_id,
        Request.id != req.id,
        Request.jurisdiction == req.jurisdiction,
        Request.kind.in_(kinds),
        Request.received_at >= since,
        Request.received_at <= req.received_at,
        Request.state.not_in(("rejected", "withdrawn")),
        Request.id.in_(same_person),
    )
    return int(session.scalar(query) or 0)
