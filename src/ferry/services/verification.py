"""Identity verification: one-time email codes and agent attestation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ferry.crypto.tokens import keyed_hash, new_code, same, sign, unsign
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError, InvalidInput
from ferry.domain.models import IdentityType, RequestState
from ferry.services import notify
from ferry.services.audit import record
from ferry.services.lifecycle import move
from ferry.settings import get_settings
from ferry.store import requests
from ferry.store.tables import Request, Tenant, VerificationCode

CODES_PER_HOUR = 5
_SUBJECT = "subject-access"


class VerificationError(FerryError):
    code = "invalid_code"
    status = 400


class VerificationLocked(FerryError):
    code = "verification_locked"
    status = 423


def _hash(request_id: str, code: str) -> str:
    return keyed_hash(get_settings().secret(), "code", request_id, code)


def issue_code(session: Session, tenant: Tenant, req: Request, email: str) -> None:
    """Replace any open code with a new one and mail it; only its keyed hash is stored."""
    settings = get_settings()
    for old in requests.all_codes(session, req.id):
        if old.used_at is None:
            old.superseded = True
    code = new_code()
    session.add(
        VerificationCode(
            request_id=req.id,
            code_hash=_hash(req.id, code),
            expires_at=utcnow() + timedelta(minutes=settings.code_ttl_minutes),
        )
    )
    record(
        session,
        tenant.id,
        "system",
        "verification.code_sent",
        req.id,
        {"method": "email-code", "expires_minutes": settings.code_ttl_minutes},
    )
    body = (
        f"Your verification code is {code}\n\n"
        f"Enter it on {notify.portal_url(tenant.slug, req.id, '/verify')} within "
        f"{settings.code_ttl_minutes} minutes to confirm that you asked {tenant.name} "
        "for a copy of your personal data.\n\n"
        "If you did not ask for this, ignore this message: nothing will be sent without the code."
    )
    notify.send(
        session,
        req,
        email,
        f"Your code for your {tenant.name} data request",
        body,
        "verification_code",
    )


def resend_code(request_id: str) -> None:
    with unit_of_work() as session:
        req = requests.get(session, request_id)
        tenant = session.get_one(Tenant, req.tenant_id)
        _refuse_if_locked(req)
        email = next((i.value for i in req.identities if i.type == IdentityType.EMAIL), None)
        if email is None:
            raise InvalidInput(
                "this request has no email address to send a code to; an agent "
                "will verify you another way",
                code="no_email_identity",
            )
        since = utcnow() - timedelta(hours=1)
        recent = session.scalar(
            select(func.count())
            .select_from(VerificationCode)
            .where(VerificationCode.request_id == req.id, VerificationCode.created_at >= since)
        )
        if (recent or 0) >= CODES_PER_HOUR:
            raise FerryError(
                "too many codes were sent in the last hour; try again later",
                code="too_many_codes",
                status=429,
            )
        issue_code(session, tenant, req, email)


def _refuse_if_locked(req: Request) -> None:
    if req.verification_locked:
        raise VerificationLocked(
            "too many wrong codes: verification is locked for this request. The team handling "
            "it has been told and will contact you to verify another way."
        )


@dataclass(frozen=True)
class _Outcome:
    error: FerryError | None = None
    token: str | None = None


def check_code(request_id: str, code: str) -> str:
    """Check a code; on success verify the request (if not yet) and return a subject token."""
    code = code.strip()
    with unit_of_work() as session:
        outcome = _check(session, request_id, code)
    if outcome.error:
        raise outcome.error
    assert outcome.token is not None
    return outcome.token


def _check(session: Session, request_id: str, code: str) -> _Outcome:
    settings = get_settings()
    req = requests.get(session, request_id)
    _refuse_if_locked(req)
    if req.state in (RequestState.REJECTED, RequestState.WITHDRAWN, RequestState.CLOSED):
        raise InvalidInput(
            f"this request is {req.state}; there is nothing to verify",
            code="request_closed",
            status=409,
        )
    open_code = requests.open_code(session, req.id)
    if open_code is None:
        return _Outcome(
            VerificationError(
                "there is no active code for this request (it was used or replaced); ask for a "
                "new code",
                code="no_active_code",
            )
        )
    if open_code.expires_at < utcnow():
        open_code.superseded = True
        record(session, req.tenant_id, "subject", "verification.code_expired", req.id)
        return _Outcome(
            VerificationError("this code has expired; ask for a new code", code="code_expired")
        )
    if not same(open_code.code_hash, _hash(req.id, code)):
        return _wrong(session, req, open_code, settings.code_max_attempts)
    open_code.used_at = utcnow()
    if req.state == RequestState.AWAITING_VERIFICATION:
        req.verified_method, req.verified_at = "email-code", utcnow()
        move(session, req, RequestState.VERIFIED, "subject", {"method": "email-code"})
    else:
        record(
            session, req.tenant_id, "subject", "subject.signed_in", req.id, {"method": "email-code"}
        )
    return _Outcome(token=subject_token(req.id))


def _wrong(session: Session, req: Request, code: VerificationCode, limit: int) -> _Outcome:
    """Count a wrong code against the request: a new code does not reset the count."""
    code.attempts += 1
    since = req.verified_at or req.received_at  # an agent's attestation starts a fresh count
    failed = sum(c.attempts for c in requests.all_codes(session, req.id) if c.created_at >= since)
    left = limit - failed
    record(session, req.tenant_id, "subject", "verification.failed", req.id, {"attempt": failed})
    if left > 0:
        return _Outcome(
            VerificationError(
                f"that code is not right; {left} {'try' if left == 1 else 'tries'} left"
            )
        )
    code.superseded = True
    req.verification_locked = True
    record(session, req.tenant_id, "system", "verification.locked", req.id, {"attempts": failed})
    tenant = session.get_one(Tenant, req.tenant_id)
    if tenant.agent_email:
        notify.send(
            session,
            req,
            tenant.agent_email,
            f"Verification locked: request {req.id}",
            f"Request {req.id} had {failed} wrong codes and is locked. Verify the "
            "person another way and record it with `ferry request verify ID --method "
            "agent --note TEXT`.",
            "agent_alert",
        )
    return _Outcome(
        VerificationLocked(
            "too many wrong codes: verification is now locked for this request. The team handling "
            "it has been told and will contact you to verify another way."
        )
    )


def attest(request_id: str, agent: str, note: str, tenant_id: int | None = None) -> None:
    """An agent verified the person another way (e.g. by phone) and says how."""
    if len(note.strip()) < 5:
        raise InvalidInput("say how you verified the person (a note of at least 5 characters)")
    if not agent.strip():
        raise InvalidInput("name the agent who verified the person")
    with unit_of_work() as session:
        req = requests.get(session, request_id, tenant_id)
        req.verified_method, req.verified_at = "agent", utcnow()
        req.verification_locked = False
        move(
            session,
            req,
            RequestState.VERIFIED,
            f"agent:{agent.strip()}",
            {"method": "agent", "note": note.strip()[:2000]},
        )


def subject_token(request_id: str) -> str:
    return sign(get_settings().secret(), _SUBJECT, {"r": request_id})


def subject_allowed(token: str, request_id: str) -> bool:
    settings = get_settings()
    try:
        payload = unsign(settings.secret(), _SUBJECT, token, settings.subject_token_days * 86400)
    except FerryError:
        return False
    return payload.get("r") == request_id
