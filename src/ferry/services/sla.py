"""Tenant SLA: internal target, reminders at fractions of the period, escalation, overdue.

``run_due_reminders(now)`` is what the scheduler calls (the embedded worker, or cron through
``ferry sla tick``). Each reminder, escalation and overdue alert fires once per request: what was
sent is kept on the request's clock row, which is locked while it is checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.deadlines import local_day, parse_zone
from ferry.domain.errors import InvalidInput
from ferry.domain.models import RequestState
from ferry.services import notify
from ferry.services.audit import record
from ferry.services.clock import ensure, tenant_zone
from ferry.services.views import RequestView
from ferry.store import clocks, tenants
from ferry.store.tables import Request, RequestClock, Tenant, TenantSla

log = logging.getLogger("ferry.sla")
DEFAULT_REMINDERS = [0.5, 0.75, 0.9]
_SUBJECTS = {
    "sla.reminder": "Reminder",
    "sla.escalated": "Escalation",
    "sla.overdue": "OVERDUE",
    "sla.acknowledgement": "Acknowledge by hand",
}


@dataclass
class SlaSettings:
    tenant: str
    timezone: str = "UTC"
    internal_days: int | None = None
    reminders: list[float] = field(default_factory=lambda: list(DEFAULT_REMINDERS))
    escalate_at: float = 1.0
    supervisor_email: str | None = None


@dataclass
class TickReport:
    checked: int = 0
    reminders: int = 0
    escalations: int = 0
    overdue: int = 0
    errors: list[str] = field(default_factory=list)


def _validate(s: SlaSettings) -> None:
    parse_zone(s.timezone)
    if s.internal_days is not None and not 1 <= s.internal_days <= 366:
        raise InvalidInput("the internal target must be 1 to 366 days")
    if len(s.reminders) > 10 or any(not 0 < f < 1 for f in s.reminders):
        raise InvalidInput("reminders are up to 10 fractions between 0 and 1, e.g. 0.5,0.75")
    if not 0 < s.escalate_at <= 1:
        raise InvalidInput("escalate_at is a fraction of the period, above 0 and at most 1")
    if s.supervisor_email and "@" not in s.supervisor_email:
        raise InvalidInput(f"supervisor email {s.supervisor_email[:80]!r} is not an address")


def set_settings(s: SlaSettings, actor: str) -> SlaSettings:
    _validate(s)
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, s.tenant)
        row = clocks.sla_for(session, tenant.id) or TenantSla(tenant_id=tenant.id)
        row.timezone, row.internal_days = parse_zone(s.timezone).key, s.internal_days
        row.reminders, row.escalate_at = sorted(set(s.reminders)), s.escalate_at
        row.supervisor_email = s.supervisor_email
        session.add(row)
        record(
            session,
            tenant.id,
            actor,
            "sla.configured",
            data={
                "timezone": row.timezone,
                "internal_days": s.internal_days,
                "reminders": row.reminders,
                "escalate_at": s.escalate_at,
            },
        )
    return get_settings(s.tenant)


def get_settings(slug: str) -> SlaSettings:
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, slug)
        row = clocks.sla_for(session, tenant.id)
        if row is None:
            return SlaSettings(slug)
        return SlaSettings(
            slug,
            row.timezone,
            row.internal_days,
            [float(f) for f in row.reminders],
            row.escalate_at,
            row.supervisor_email,
        )


def run_due_reminders(now: datetime | None = None) -> TickReport:
    """Send every reminder, escalation and overdue alert that is due at ``now`` (naive UTC).

    A read pass finds the requests with something to send; each of those is then handled in
    its own transaction with its clock row locked, so a run never sends anything twice.
    """
    moment = now or utcnow()
    report = TickReport()
    with unit_of_work() as session:
        rows = clocks.open_with_clocks(session)
        report.checked = len(rows)
        ids = [
            req_id
            for req_id, state, due, clock, sla in rows
            if clock is None or (state != RequestState.PAUSED and _pending(clock, due, sla, moment))
        ]
    for request_id in ids:
        try:
            with unit_of_work() as session:
                _tick_one(session, request_id, moment, report)
        except Exception as exc:  # one bad request must not stop the others
            log.exception("sla tick failed for %s", request_id)
            report.errors.append(f"{request_id}: {type(exc).__name__}")
    return report


def _pending(
    clock: RequestClock, due: date, sla: TenantSla | None, moment: datetime
) -> list[tuple[str, float]]:
    """What is due now and not yet sent: (kind, fraction of the period elapsed or reached)."""
    if clock.paused_since is not None:  # the clock stands still (e.g. before verification)
        return []
    today = local_day(moment, parse_zone(clock.timezone))
    target = clock.internal_due or due
    elapsed = (today - clock.received_local).days / max(1, (target - clock.received_local).days)
    sent = {str(f) for f in clock.reminders_sent}
    found: list[tuple[str, float]] = []
    if clock.acknowledge_by and clock.acknowledged_at is None and "ack" not in sent:
        found.append(("sla.acknowledgement", elapsed))
    fractions = sorted(float(f) for f in (sla.reminders if sla else DEFAULT_REMINDERS))
    found += [("sla.reminder", f) for f in fractions if elapsed >= f and str(f) not in sent]
    if elapsed >= (sla.escalate_at if sla else 1.0) and clock.escalated_at is None:
        found.append(("sla.escalated", elapsed))
    if today > due and clock.overdue_at is None:
        found.append(("sla.overdue", elapsed))
    return found


def _tick_one(session: Session, request_id: str, moment: datetime, report: TickReport) -> None:
    req = session.get_one(Request, request_id)
    if req.state == RequestState.PAUSED:
        return
    clock = ensure(session, req)  # locks the clock row
    tenant = session.get_one(Tenant, req.tenant_id)
    sla = clocks.sla_for(session, tenant.id)
    target = clock.internal_due or req.due_date
    for action, fraction in _pending(clock, req.due_date, sla, moment):
        if action == "sla.acknowledgement":
            _alert(session, req, tenant, sla, action, fraction, clock.acknowledge_by or target)
            clock.reminders_sent = [*clock.reminders_sent, "ack"]
            report.reminders += 1
        elif action == "sla.reminder":
            _alert(session, req, tenant, sla, action, fraction, target)
            clock.reminders_sent = [*clock.reminders_sent, str(fraction)]
            report.reminders += 1
        elif action == "sla.escalated":
            _alert(session, req, tenant, sla, action, fraction, target, supervisor=True)
            clock.escalated_at = moment
            report.escalations += 1
        else:
            _alert(session, req, tenant, sla, action, fraction, req.due_date, supervisor=True)
            clock.overdue_at = moment
            report.overdue += 1


def _alert(
    session: Session,
    req: Request,
    tenant: Tenant,
    sla: TenantSla | None,
    action: str,
    fraction: float,
    target: date,
    *,
    supervisor: bool = False,
) -> None:
    to = (sla.supervisor_email if sla and supervisor else None) or tenant.agent_email
    what = _SUBJECTS[action]
    record(
        session,
        tenant.id,
        "scheduler",
        action,
        req.id,
        {
            "fraction": round(fraction, 3),
            "target": target.isoformat(),
            "due": req.due_date.isoformat(),
            "to": "supervisor" if supervisor else "agent",
            "notified": bool(to),
        },
    )
    if to:
        notify.send(
            session,
            req,
            to,
            f"[{tenant.slug}] {what}: request {req.id} due {target}",
            f"{what}: request {req.id} ({req.kind}, {req.jurisdiction}, {req.state}) "
            f"must be answered by {req.due_date.isoformat()} (internal target "
            f"{target.isoformat()}).\n",
            action,
        )


def due_within(slug: str, days: int, now: datetime | None = None) -> list[RequestView]:
    """Open requests due within ``days`` of today in the tenant's time zone (overdue included)."""
    if not 0 <= days <= 3660:
        raise InvalidInput("--due-within takes 0 to 3660 days, e.g. 7d")
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, slug)
        today = local_day(now or utcnow(), parse_zone(tenant_zone(session, tenant.id)))
        found = clocks.due_by(session, tenant.id, today + timedelta(days=days))
        return [RequestView.of(r, slug) for r in found]


def overdue(slug: str, now: datetime | None = None) -> list[RequestView]:
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, slug)
        today = local_day(now or utcnow(), parse_zone(tenant_zone(session, tenant.id)))
        found = clocks.due_by(session, tenant.id, today - timedelta(days=1))
        return [RequestView.of(r, slug) for r in found]


def parse_days(text: str) -> int:
    """``7d``, ``7`` or ``2w`` as a number of days."""
    raw = text.strip().lower()
    try:
        if raw.endswith("w"):
            return int(raw[:-1]) * 7
        return int(raw.removesuffix("d"))
    except ValueError:
        raise InvalidInput(f"{text[:20]!r} is not a number of days like 7d or 2w") from None


def as_dict(report: TickReport) -> dict[str, Any]:
    return {
        "checked": report.checked,
        "reminders": report.reminders,
        "escalations": report.escalations,
        "overdue": report.overdue,
        "errors": report.errors,
    }
