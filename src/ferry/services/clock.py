"""The statutory clock of a request: start, pause, resume, extend; and the deadline calculator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.deadlines import deadlines, local_day, longest_extension, parse_zone
from ferry.domain.errors import Conflict, InvalidInput
from ferry.domain.models import RequestState
from ferry.jurisdictions import Rule, rule_for
from ferry.services import limits, notify, pauses
from ferry.services.audit import record
from ferry.services.lifecycle import move
from ferry.store import clocks, requests
from ferry.store.tables import Request, RequestClock, Tenant, TenantSla

MIN_REASON = 10


@dataclass(frozen=True)
class DeadlineView:
    jurisdiction: str
    law: str
    received: date
    timezone: str
    due: date
    extended_due: date | None
    acknowledge_by: date | None
    statutory: bool
    rule: str


def parse_received(text: str, zone_name: str) -> tuple[date, str]:
    """A receipt time as typed: a date (already local), or a date-time (local unless offset)."""
    zone = parse_zone(zone_name)
    raw = text.strip()
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw), zone.key
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T", 1))
    except ValueError:
        raise InvalidInput(
            f"received {text[:40]!r} is not a date or date-time like 2026-01-31 or "
            "2026-01-31T23:30 (local) or 2026-01-31T22:30Z"
        ) from None
    if moment.tzinfo is None:
        return moment.date(), zone.key
    return moment.astimezone(zone).date(), zone.key


def deadline(code: str, received: str, tz: str = "UTC") -> DeadlineView:
    """``ferry deadline`` and ``GET /api/v1/deadlines``: no store needed."""
    rule = rule_for(code)
    day, zone = parse_received(received, tz)
    found = deadlines(day, rule.clock, rule.holidays)
    return DeadlineView(
        rule.code,
        rule.law,
        day,
        zone,
        found.due,
        found.extended_due,
        found.acknowledge_by,
        rule.statutory,
        rule.citation,
    )


def tenant_zone(session: Session, tenant_id: int) -> str:
    return _zone(clocks.sla_for(session, tenant_id))


def _zone(sla: TenantSla | None) -> str:
    return sla.timezone if sla else "UTC"


def start(session: Session, tenant: Tenant, req: Request) -> RequestClock:
    """Create the request's clock: local receipt date, due date (the request's too: set here
    only), acknowledgement, limits."""
    rule = rule_for(req.jurisdiction)
    sla = clocks.sla_for(session, tenant.id)
    zone = _zone(sla)  # the SLA row is needed below too: read once
    received = local_day(req.received_at, parse_zone(zone))
    found = deadlines(received, rule.clock, rule.holidays)
    internal = received + timedelta(days=sla.internal_days) if sla and sla.internal_days else None
    clock = RequestClock(
        request_id=req.id,
        timezone=zone,
        received_local=received,
        statutory_due=found.due,
        acknowledge_by=found.acknowledge_by,
        internal_due=min(internal, found.due) if internal else None,
        paused_days=0,
        extensions=0,
        paused_days_at_extension=0,
        reminders_sent=[],
    )
    if rule.data.clock.starts == "verification":  # e.g. CN: the period runs once verified
        clock.paused_since, clock.pause_reason = req.received_at, "identity"
    session.add(clock)
    req.due_date = found.due
    over = limits.check(session, req, rule)
    if over is not None:  # the row was written without one: setting None would cost an UPDATE
        clock.over_limit = over
    if found.acknowledge_by is not None:
        _acknowledge(session, tenant, req, clock, rule)
    return clock


def ensure(session: Session, req: Request) -> RequestClock:
    """The clock of a request (made now for requests taken in before clocks existed)."""
    found = clocks.clock_for(session, req.id, lock=True)
    if found is None:
        found = _backfill(session, req)
    return found


def _backfill(session: Session, req: Request) -> RequestClock:
    """A clock for a request from before clocks: its stored due date stands, no mail is sent."""
    rule = rule_for(req.jurisdiction)
    found = deadlines(req.received_at.date(), rule.clock, rule.holidays)
    clock = RequestClock(
        request_id=req.id,
        timezone="UTC",
        received_local=req.received_at.date(),
        statutory_due=req.due_date,
        acknowledge_by=found.acknowledge_by,
        acknowledged_at=req.received_at if found.acknowledge_by else None,
        paused_days=0,
        extensions=0,
        paused_days_at_extension=0,
        reminders_sent=[],
    )
    session.add(clock)
    session.flush()
    record(
        session,
        req.tenant_id,
        "system",
        "clock.backfilled",
        req.id,
        {"due_date": req.due_date.isoformat()},
    )
    return clock


def person_email(req: Request) -> str | None:
    return next((i.value for i in req.identities if i.type == "email"), None)


def _acknowledge(
    session: Session, tenant: Tenant, req: Request, clock: RequestClock, rule: Rule
) -> None:
    email = person_email(req)
    if email is None:
        record(
            session,
            tenant.id,
            "system",
            "clock.acknowledgement_needed",
            req.id,
            {"acknowledge_by": str(clock.acknowledge_by), "reason": "no email identity"},
        )
        return
    body = (
        f"{tenant.name} has received your request (reference {req.id}).\n\n"
        f"We will verify your identity, then answer by {req.due_date.isoformat()}. "
        f"Follow it at {notify.portal_url(tenant.slug, req.id)}.\n"
    )
    if notify.send(
        session, req, email, f"We received your request to {tenant.name}", body, "acknowledgement"
    ):
        clock.acknowledged_at = utcnow()


def load_rule(session: Session, request_id: str, tenant_id: int | None) -> tuple[Request, Rule]:
    req = requests.get(session, request_id, tenant_id)
    return req, rule_for(req.jurisdiction)


def need_reason(reason: str | None, what: str) -> str:
    text = (reason or "").strip()
    if len(text) < MIN_REASON:
        raise InvalidInput(
            f"{what} needs a reason of at least {MIN_REASON} characters, told to the person",
            code="reason_required",
        )
    return text[:2000]


def pause(
    request_id: str,
    actor: str,
    reason: str,
    note: str = "",
    tenant_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Stop the clock while waiting for the person, where the law allows it."""
    moment = now or utcnow()
    with unit_of_work() as session:
        req, rule = load_rule(session, request_id, tenant_id)
        c = rule.data.clock
        if not c.pause_allowed:
            raise Conflict(
                f"{rule.law} does not let the clock stop ({c.citation}); the request stays due "
                f"on {req.due_date.isoformat()}",
                code="pause_not_allowed",
            )
        if reason not in c.pause_reasons:
            raise InvalidInput(
                f"{rule.law} allows a pause only for: {', '.join(c.pause_reasons)}",
                code="pause_reason_not_allowed",
            )
        clock = ensure(session, req)
        if clock.paused_since is not None:
            raise Conflict("the clock is already paused; resume it first", code="already_paused")
        move(session, req, RequestState.PAUSED, actor, {"reason": reason, "note": note[:500]})
        clock.paused_since, clock.pause_reason = moment, reason
        email = person_email(req)
        if email:
            notify.send(
                session,
                req,
                email,
                "We need something from you to answer your request",
                f"To go on with your request (reference {req.id}) we need: {reason}"
                f"{' - ' + note[:500] if note else ''}.\nThe time we have to answer is "
                "stopped until we hear from you.\n",
                "pause",
            )
        return view_of(session, req, rule, clock, moment)


def resume(
    request_id: str, actor: str, tenant_id: int | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Restart the clock: the due date moves by the days it stood still."""
    moment = now or utcnow()
    with unit_of_work() as session:
        req, rule = load_rule(session, request_id, tenant_id)
        clock = ensure(session, req)
        if clock.paused_since is None or req.state != RequestState.PAUSED:
            raise Conflict("the clock is not paused", code="not_paused")
        days = pauses.end(session, req, moment)
        back = RequestState(req.resume_state or RequestState.AWAITING_VERIFICATION)
        if back is RequestState.AWAITING_VERIFICATION and req.verified_at is not None:
            back = RequestState.VERIFIED
        move(session, req, back, actor, {"paused_days": days, "clock": "resumed"})
        return view_of(session, req, rule, clock, moment)


def acknowledge(
    request_id: str, actor: str, how: str, tenant_id: int | None = None
) -> dict[str, Any]:
    """Record an acknowledgement sent outside Ferry (letter, phone) where no mail could go."""
    text = need_reason(how, "recording an acknowledgement")
    with unit_of_work() as session:
        req, rule = load_rule(session, request_id, tenant_id)
        clock = ensure(session, req)
        if clock.acknowledged_at is not None:
            raise Conflict("the request was already acknowledged", code="already_acknowledged")
        clock.acknowledged_at = utcnow()
        record(session, req.tenant_id, actor, "clock.acknowledged", req.id, {"how": text})
        return view_of(session, req, rule, clock)


def view_of(
    session: Session, req: Request, rule: Rule, clock: RequestClock, now: datetime | None = None
) -> dict[str, Any]:
    """What an agent needs to see about the clock: days left, pauses and extension."""
    today = local_day(now or utcnow(), parse_zone(clock.timezone))
    latest = longest_extension(clock.received_local, rule.clock, rule.holidays, clock.paused_days)
    return {
        "id": req.id,
        "state": req.state,
        "jurisdiction": rule.code,
        "law": rule.law,
        "rule": rule.citation,
        "timezone": clock.timezone,
        "received": clock.received_local.isoformat(),
        "due": req.due_date.isoformat(),
        "statutory_due": clock.statutory_due.isoformat(),
        "days_left": (req.due_date - today).days,
        "overdue": today > req.due_date and req.state not in clocks.OPEN_STATES_EXCLUDED,
        "internal_due": clock.internal_due.isoformat() if clock.internal_due else None,
        "acknowledge_by": clock.acknowledge_by.isoformat() if clock.acknowledge_by else None,
        "acknowledged": clock.acknowledged_at is not None,
        "paused": clock.paused_since is not None,
        "pause_reason": clock.pause_reason,
        "paused_days": clock.paused_days,
        "extended": clock.extensions > 0,
        "extended_until": clock.extended_until.isoformat() if clock.extended_until else None,
        "extension_reason": clock.extension_reason,
        "latest_extension": None if clock.extensions else (latest.isoformat() if latest else None),
        "over_limit": clock.over_limit,
        "reminders_sent": list(clock.reminders_sent),
        "escalated": clock.escalated_at is not None,
    }


def summary(session: Session, req: Request) -> dict[str, Any]:
    """The clock part of a request view (made now for requests from before clocks)."""
    return view_of(session, req, rule_for(req.jurisdiction), ensure(session, req))


def show(
    request_id: str, tenant_id: int | None = None, now: datetime | None = None
) -> dict[str, Any]:
    with unit_of_work() as session:
        req, rule = load_rule(session, request_id, tenant_id)
        return view_of(session, req, rule, ensure(session, req), now)
