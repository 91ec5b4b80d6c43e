"""Refusing a request: always with a reason, the law cited and the person's right to complain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import Conflict
from ferry.domain.models import RequestState, parse_enum
from ferry.jurisdictions import Rule
from ferry.services import notify
from ferry.services.audit import record
from ferry.services.clock import ensure, load_rule, need_reason, person_email, view_of
from ferry.services.lifecycle import move


class Ground(StrEnum):
    UNFOUNDED = "unfounded"  # manifestly unfounded or excessive
    OVER_LIMIT = "over_limit"  # more free requests than the law requires answering
    OTHER = "other"  # e.g. identity could not be verified


def notice_text(rule: Rule, ground: Ground, reason: str, request_id: str) -> str:
    """The letter the person receives. Every refusal states the right to complain."""
    rej = rule.data.rejection
    why = {
        Ground.UNFOUNDED: "we consider it manifestly unfounded or excessive",
        Ground.OVER_LIMIT: "it exceeds the number of requests the law requires us to answer",
        Ground.OTHER: "we cannot act on it",
    }[ground]
    return (
        f"We are not able to act on your request (reference {request_id}) because {why}.\n\n"
        f"Reason: {reason}\n\nLegal basis: {rej.citation}.\n\n"
        f"Your right to complain: {rej.complaint}\n"
    )


def reject(
    request_id: str,
    actor: str,
    reason: str | None,
    *,
    ground: str = Ground.OTHER,
    tenant_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    text = need_reason(reason, "a rejection")
    why = parse_enum(Ground, ground, "rejection ground")
    with unit_of_work() as session:
        req, rule = load_rule(session, request_id, tenant_id)
        clock = ensure(session, req)
        if why is Ground.UNFOUNDED and not rule.data.rejection.unfounded_or_excessive:
            raise Conflict(
                f"{rule.law} has no 'manifestly unfounded or excessive' ground for refusal "
                f"({rule.data.rejection.citation}); answer the request or give another ground",
                code="ground_not_available",
            )
        if why is Ground.OVER_LIMIT and not clock.over_limit:
            raise Conflict(
                "this request is within the person's free-request limit; it cannot be refused "
                "for exceeding it",
                code="within_limit",
            )
        letter = notice_text(rule, why, text, req.id)
        move(
            session,
            req,
            RequestState.REJECTED,
            actor,
            {"ground": why.value, "reason": text, "citation": rule.data.rejection.citation},
        )
        email = person_email(req)
        if email:
            notify.send(session, req, email, "About your data request", letter, "rejection")
        else:
            record(
                session,
                req.tenant_id,
                "system",
                "notice.needed",
                req.id,
                {"purpose": "rejection", "text": letter},
            )
        result = view_of(session, req, rule, clock, now or utcnow())
        result["notice"] = letter
        return result
