"""Extending a request's deadline: once, within the law's length, with a reason and a notice."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.deadlines import local_day, longest_extension, parse_zone
from ferry.domain.errors import Conflict, InvalidInput
from ferry.domain.models import RequestState
from ferry.services import notify
from ferry.services.audit import record
from ferry.services.clock import ensure, load_rule, need_reason, person_email, view_of
from ferry.services.lifecycle import move
from ferry.store.tables import Request, Tenant


def extend(
    request_id: str,
    actor: str,
    reason: str | None,
    *,
    until: date | None = None,
    notified: str | None = None,
    tenant_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Grant the extension the law allows, telling the person why (mail, or ``notified``)."""
    moment = now or utcnow()
    text = need_reason(reason, "an extension")
    with unit_of_work() as session:
        req, rule = load_rule(session, request_id, tenant_id)
        ext = rule.data.extension
        if ext is None:
            raise Conflict(f"{rule.law} allows no extension ({rule.citation})", code="no_extension")
        clock = ensure(session, req)
        if clock.extensions >= ext.times:
            raise Conflict(
                f"this request was already extended to {clock.extended_until}; {rule.law} allows "
                f"{'one extension' if ext.times == 1 else f'{ext.times} extensions'}",
                code="already_extended",
            )
        today = local_day(moment, parse_zone(clock.timezone))
        if today > req.due_date:
            raise Conflict(
                f"too late: the deadline was {req.due_date.isoformat()} and an extension must be "
                f"notified before it ({ext.notice}; {ext.citation})",
                code="extension_too_late",
            )
        latest = longest_extension(
            clock.received_local, rule.clock, rule.holidays, clock.paused_days
        )
        target = _target(until, latest, req.due_date, rule.law)
        _notify(session, req, rule.law, target, text, ext.citation, notified)
        clock.extensions += 1
        clock.extended_until, clock.extension_reason = target, text
        clock.paused_days_at_extension = clock.paused_days
        clock.extension_notice_at = moment
        req.due_date = target
        data = {"reason": text, "until": target.isoformat(), "citation": ext.citation}
        was = RequestState(req.state)
        move(session, req, RequestState.EXTENDED, actor, data)
        back = RequestState(req.resume_state or RequestState.AWAITING_VERIFICATION)
        move(
            session, req, was if was is RequestState.PAUSED else back, actor, {"after": "extension"}
        )
        return view_of(session, req, rule, clock, moment)


def _target(until: date | None, latest: date | None, due: date, law: str) -> date:
    if until is None:
        if latest is None:
            raise InvalidInput(
                f"{law} sets no length for an extension: give the date you will answer by "
                "(--until / until)",
                code="extension_date_required",
            )
        return latest
    if latest is not None and until > latest:
        raise InvalidInput(
            f"too long: {law} allows an extension up to {latest.isoformat()}, not "
            f"{until.isoformat()}",
            code="extension_too_long",
        )
    if until <= due:
        raise InvalidInput(
            f"an extension must end after the current due date {due.isoformat()}",
            code="extension_too_short",
        )
    return until


def _notify(
    session: Any, req: Any, law: str, target: date, reason: str, cite: str, notified: str | None
) -> None:
    """The person must be told (with reasons) before the extension counts."""
    if notified and notified.strip():
        record(
            session,
            req.tenant_id,
            "agent",
            "notice.recorded",
            req.id,
            {"purpose": "extension", "how": notified.strip()[:500]},
        )
        return
    email = person_email(req)
    if email is None:
        raise InvalidInput(
            "the person must be told of the extension: there is no email to send it to, so "
            "record how you told them (--notified 'letter posted 2026-03-01')",
            code="extension_notice_required",
        )
    body = (
        f"We need more time to answer your request (reference {req.id}).\n\n"
        f"Reason: {reason}\n\nWe will answer by {target.isoformat()}, as {law} allows "
        f"({cite}).\n\nFollow your request at {notify.portal_url(slug_of(session, req), req.id)}\n"
    )
    if not notify.send(
        session, req, email, "We need more time to answer your request", body, "extension"
    ):
        raise Conflict(
            "the extension notice could not be sent, so the deadline was not extended; fix the "
            "mail settings or record another notice (--notified)",
            code="extension_notice_failed",
        )


def slug_of(session: Session, req: Request) -> str:
    return session.get_one(Tenant, req.tenant_id).slug
