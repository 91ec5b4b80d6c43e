"""Audit use-cases: record an event, verify a tenant's chain."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ferry.db import unit_of_work
from ferry.domain.audit import verify_chain
from ferry.store import audit, tenants
from ferry.store.tables import AuditEvent

record = audit.append


@dataclass(frozen=True)
class AuditReport:
    tenant: str
    ok: bool
    events: int
    head: str
    broken_at: int | None
    problem: str | None


def verify_tenant(slug: str) -> AuditReport:
    """Recompute every link; also catch a chain cut short (the tenant row keeps the head)."""
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, slug)
        report = verify_chain(audit.links(session, tenant.id, tenant.slug))
        if report.ok and (report.events != tenant.audit_seq or report.head != tenant.audit_head):
            return AuditReport(
                slug,
                False,
                report.events,
                report.head,
                report.events + 1,
                f"the chain ends at event #{report.events} but the tenant's head "
                f"is #{tenant.audit_seq}: events were deleted from the end",
            )
        return AuditReport(
            slug, report.ok, report.events, report.head, report.broken_at, report.problem
        )


def events_for(session: Session, tenant_id: int, request_id: str) -> list[AuditEvent]:
    return audit.for_request(session, tenant_id, request_id)
