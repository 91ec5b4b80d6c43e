"""Identity verification, the use-case: pick the method, guard it, record what it proved.

The methods themselves are plugins in :mod:`ferry.verify`; this module and its helpers
(``verify_codes``, ``verify_facts``, ``verify_review``, ``verify_policy``, ``verify_guard``)
load what each needs, apply the tenant's policy, the attempt limits and lockouts, and keep the
evidence and the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from ferry.crypto.tokens import unsign
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError, InvalidInput
from ferry.services import verify_codes, verify_facts, verify_guard, verify_review
from ferry.services.audit import record
from ferry.services.verify_codes import SUBJECT, VerificationError, subject_token
from ferry.services.verify_guard import VerificationLocked
from ferry.services.verify_policy import profile
from ferry.settings import get_settings
from ferry.store import requests
from ferry.store.tables import Request, Tenant

__all__ = [
    "VerificationError",
    "VerificationLocked",
    "answer",
    "attest",
    "check_code",
    "issue_code",
    "resend_code",
    "start",
    "subject_allowed",
    "subject_token",
]

SENT_METHODS = ("email-code", "magic-link", "sms-code")
ANSWERED = (*SENT_METHODS, "authorized-agent", "knowledge", "totp")


def issue_code(session: Session, tenant: Tenant, req: Request, email: str) -> None:
    """At submission: mail a code when the policy accepts email codes, else ask for an agent."""
    if "email-code" not in profile(session, req).methods:
        record(
            session,
            tenant.id,
            "system",
            "verification.agent_needed",
            req.id,
            {"reason": "the policy does not accept email codes"},
        )
        return
    verify_codes.issue(session, tenant, req, "email-code")


def start(request_id: str, method: str = "email-code", client: str | None = None) -> None:
    """Send a new code or link by ``method``; the same answer whoever the person is."""
    if method not in SENT_METHODS:
        raise InvalidInput(
            f"only {', '.join(SENT_METHODS)} are sent; {method!r} is not", code="not_a_code_method"
        )
    with unit_of_work() as session:
        req = requests.get(session, request_id)
        verify_guard.refuse_if_locked(session, req, client)
        verify_codes.issue(session, session.get_one(Tenant, req.tenant_id), req, method)


def resend_code(request_id: str, client: str | None = None) -> None:
    start(request_id, "email-code", client)


@dataclass(frozen=True)
class Answered:
    state: str
    access_token: str
    level: int
    required_level: int
    points: list[str]


def answer(
    request_id: str, method: str, fields: dict[str, str], client: str | None = None
) -> Answered:
    """The person's answer to ``method``: a code, a link token, data points or an app code."""
    if method not in ANSWERED:
        raise InvalidInput(
            f"{method!r} is not answered by the person; use one of: {', '.join(ANSWERED)}",
            code="unknown_method",
        )
    with unit_of_work() as session:
        req = requests.get(session, request_id)
        if method == "knowledge":
            result = verify_facts.check_knowledge(session, req, fields, client)
        elif method == "totp":
            result = verify_facts.check_totp(session, req, fields, client)
        elif method == "authorized-agent":
            result = verify_review.confirm_agent(session, req, fields, client, utcnow())
        else:
            result = verify_codes.check(session, req, method, fields, client, now=utcnow())
        prof = profile(session, req)
        state, required, achieved = req.state, prof.required_level, prof.achieved_level
    if result.error:
        raise result.error
    assert result.token is not None and result.outcome is not None
    return Answered(state, result.token, achieved, required, list(result.outcome.points))


def check_code(request_id: str, code: str, client: str | None = None) -> str:
    """Check an emailed code; on success return the person's access token."""
    return answer(request_id, "email-code", {"code": code.strip()}, client).access_token


def attest(
    request_id: str,
    agent: str,
    note: str,
    tenant_id: int | None = None,
    role: str = "operator",
    level: int | None = None,
) -> None:
    """An agent verified the person another way (e.g. by phone) and says how."""
    verify_review.attest(request_id, agent, note, role, tenant_id, level)


def subject_allowed(token: str, request_id: str) -> bool:
    settings = get_settings()
    try:
        payload = unsign(settings.secret(), SUBJECT, token, settings.subject_token_days * 86400)
    except FerryError:
        return False
    return payload.get("r") == request_id
