"""The audit log: append-only, hash-chained per tenant."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from sqlalchemy import event, insert, select
from sqlalchemy.orm import Session

from ferry.domain.audit import ChainLink, canonical, link_hash
from ferry.domain.clock import utcnow
from ferry.store import tenants, txn
from ferry.store.tables import AuditEvent, Tenant


def append(
    session: Session,
    tenant_id: int,
    actor: str,
    action: str,
    request_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Add the next event to the tenant's chain. The tenant row is locked while the link is made.

    The first append of a transaction locks the tenant row and re-reads the chain head; later
    appends in the same transaction use the row in hand (the lock is held until the end of the
    transaction, so nobody else can move the head meanwhile). Events are written with the next
    flush (at the latest the commit), all in one ``INSERT`` after the flush's other statements;
    a rolled-back transaction or savepoint drops those not written yet, as the ORM would.
    """
    tenant = _locked(session, tenant_id)
    seq = tenant.audit_seq + 1
    at = utcnow()
    payload = copy.deepcopy(data) if data else {}  # what is hashed is what is stored
    content = canonical(seq, tenant.slug, at, actor, action, request_id, payload)
    digest = link_hash(tenant.audit_head, content)
    # The tenant row changes with every event, so the session always has a flush to make
    # while events wait: they are written by ``_write_pending`` at the end of that flush.
    session.info.setdefault(_PENDING, []).append(
        {
            "tenant_id": tenant_id,
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "request_id": request_id,
            "data": payload,
            "prev_hash": tenant.audit_head,
            "hash": digest,
        }
    )
    tenant.audit_seq, tenant.audit_head = seq, digest


_PENDING = "ferry.audit.pending"
_INSERT = insert(AuditEvent.__table__)  # type: ignore[arg-type]


@event.listens_for(Session, "after_flush")
def _write_pending(session: Session, _context: object) -> None:
    """Write the events appended since the last flush, in the same transaction (plain Core:
    nobody reads them back as ORM objects in the transaction that made them)."""
    rows = session.info.pop(_PENDING, None)
    if rows:
        session.connection().execute(_INSERT, rows)


@event.listens_for(Session, "before_commit")
def _write_if_nothing_to_flush(session: Session) -> None:
    """A safety net: should the tenant's change have been undone (an expired row), the commit
    would have no flush to carry the waiting events; write them anyway rather than lose them
    (``ferry audit verify`` then reports the head that did not move)."""
    if session.info.get(_PENDING) and not (session.new or session.dirty or session.deleted):
        _write_pending(session, None)


@event.listens_for(Session, "after_transaction_end")
def _drop_pending(session: Session, _transaction: object) -> None:
    """A transaction or savepoint ended without flushing (a rollback): its events go with it.
    A commit flushes first, so nothing is pending then."""
    session.info.pop(_PENDING, None)


def _locked(session: Session, tenant_id: int) -> Tenant:
    """The tenant row, locked for this transaction (locked and re-read once per transaction)."""
    held = txn.memo(session)
    key = ("audit.locked", tenant_id)
    tenant: Tenant | None = held.get(key)
    if tenant is None or tenant not in session:
        tenant = tenants.lock(session, tenant_id)
        held[key] = tenant
    return tenant


def lock_chain(session: Session, tenant_id: int) -> Tenant:
    """Lock the tenant's chain now, for the rest of the transaction, and return the tenant row.

    A use-case that will append anyway may take the lock first, before it changes anything: the
    lock's ``SELECT`` then has nothing to flush, and later appends use the row in hand.
    """
    return _locked(session, tenant_id)


def lock_chain_by_slug(session: Session, slug: str) -> Tenant:
    """As :func:`lock_chain`, finding the tenant by its slug (one ``SELECT … FOR UPDATE``)."""
    tenant = tenants.get_by_slug(session, slug, lock=True)
    txn.memo(session)[("audit.locked", tenant.id)] = tenant  # after it: the transaction is open
    return tenant


def links(session: Session, tenant_id: int, slug: str) -> Iterator[ChainLink]:
    query = select(AuditEvent).where(AuditEvent.tenant_id == tenant_id).order_by(AuditEvent.seq)
    for ev in session.scalars(query.execution_options(yield_per=1000)):
        yield ChainLink(
            ev.seq,
            slug,
            ev.at,
            ev.actor,
            ev.action,
            ev.request_id,
            dict(ev.data),
            ev.prev_hash,
            ev.hash,
        )


def for_request(session: Session, tenant_id: int, request_id: str) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.tenant_id == tenant_id, AuditEvent.request_id == request_id)
        .order_by(AuditEvent.seq)
    )
    return list(session.scalars(query))
