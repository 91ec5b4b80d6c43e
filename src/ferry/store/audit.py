"""The audit log: append-only, hash-chained per tenant."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
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
) -> AuditEvent:
    """Add the next event to the tenant's chain. The tenant row is locked while the link is made.

    The first append of a transaction locks the tenant row and re-reads the chain head; later
    appends in the same transaction use the row in hand (the lock is held until the end of the
    transaction, so nobody else can move the head meanwhile). Events are written with the next
    flush (at the latest the commit), all in one statement.
    """
    tenant = _locked(session, tenant_id)
    seq = tenant.audit_seq + 1
    at = utcnow()
    payload = copy.deepcopy(data) if data else {}  # what is hashed is what is stored
    content = canonical(seq, tenant.slug, at, actor, action, request_id, payload)
    digest = link_hash(tenant.audit_head, content)
    event = AuditEvent(
        tenant_id=tenant_id,
        seq=seq,
        at=at,
        actor=actor,
        action=action,
        request_id=request_id,
        data=payload,
        prev_hash=tenant.audit_head,
        hash=digest,
    )
    session.add(event)
    tenant.audit_seq, tenant.audit_head = seq, digest
    return event


def _locked(session: Session, tenant_id: int) -> Tenant:
    """The tenant row, locked for this transaction (locked and re-read once per transaction)."""
    held = txn.memo(session)
    key = ("audit.locked", tenant_id)
    tenant: Tenant | None = held.get(key)
    if tenant is None or tenant not in session:
        tenant = tenants.lock(session, tenant_id)
        held[key] = tenant
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
