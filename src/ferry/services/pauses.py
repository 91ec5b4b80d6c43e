"""Ending a pause of the clock, however the request leaves ``paused`` (resume, attest, reject).

``services.lifecycle.move`` calls :func:`end` on every move out of ``paused``, so the paused days
always move the due date, even when an agent verifies the person straight from ``paused``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from ferry.domain.deadlines import deadlines, local_day, parse_zone, roll
from ferry.jurisdictions import Rule, rule_for
from ferry.services.audit import record
from ferry.store import clocks
from ferry.store.tables import Request, RequestClock


def current_due(rule: Rule, clock: RequestClock) -> date:
    """Today's due date: the extension if granted, moved by every paused day."""
    if clock.extended_until is not None:
        extra = clock.paused_days - clock.paused_days_at_extension
        return roll(clock.extended_until + timedelta(days=extra), rule.period, rule.holidays)
    return deadlines(clock.received_local, rule.clock, rule.holidays, clock.paused_days).due


def end(session: Session, req: Request, moment: datetime) -> int | None:
    """Close the open pause (if any): count its days and move the due date. Days, or None."""
    clock = clocks.clock_for(session, req.id, lock=True)
    if clock is None or clock.paused_since is None:
        return None
    zone = parse_zone(clock.timezone)
    days = max(0, (local_day(moment, zone) - local_day(clock.paused_since, zone)).days)
    clock.paused_days += days
    clock.paused_since, clock.pause_reason = None, None
    req.due_date = current_due(rule_for(req.jurisdiction), clock)
    record(
        session,
        req.tenant_id,
        "system",
        "clock.resumed",
        req.id,
        {"paused_days": days, "due_date": req.due_date.isoformat()},
    )
    return days
