"""Codes and links sent to the person's own contact point: email code, magic link, SMS code,
and the confirmation an authorized agent's principal gives."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from ferry.crypto.tokens import sign
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError, InvalidInput
from ferry.domain.models import IdentityType, RequestState
from ferry.services import notify, verify_guard
from ferry.services.audit import record
from ferry.services.verify_policy import grant, method_for
from ferry.settings import get_settings
from ferry.store import requests as request_store
from ferry.store import txn
from ferry.store import verification as store
from ferry.store.tables import Request, Tenant, VerificationCode
from ferry.verify import sms
from ferry.verify.base import Attempt, Outcome
from ferry.verify.codes import EmailCode, code_hash

CODES_PER_HOUR = 5
SUBJECT = "subject-access"
CLOSED = (RequestState.REJECTED, RequestState.WITHDRAWN, RequestState.CLOSED)


class VerificationError(FerryError):
    code = "invalid_code"
    status = 400


@dataclass(frozen=True)
class Result:
    """What the caller raises or returns once the unit of work has committed."""

    error: FerryError | None = None
    token: str | None = None
    outcome: Outcome | None = None


def subject_token(request_id: str) -> str:
    return sign(get_settings().secret(), SUBJECT, {"r": request_id})


def contact(req: Request, kind: IdentityType) -> str | None:
    return next((i.value for i in req.identities if i.type == kind), None)


def _code_method(session: Session, req: Request, name: str) -> EmailCode:
    method = method_for(session, req, name)
    if not isinstance(method, EmailCode):
        raise InvalidInput(f"{name} does not send codes", code="not_a_code_method")
    return method


def issue(session: Session, tenant: Tenant, req: Request, name: str, intro: str = "") -> None:
    """Replace any open code of this method and send a new one to the request's own contact."""
    method = _code_method(session, req, name)
    phone = name == "sms-code"
    to = contact(req, IdentityType.PHONE if phone else IdentityType.EMAIL)
    if to is None:
        what = "phone number" if phone else "email address"
        raise InvalidInput(
            f"this request has no {what} to send a code to; use another method",
            code="no_contact",
        )
    if not txn.memo(session).pop(("request.new", req.id), False):  # else it has no codes yet
        _throttle_sends(session, req)
        for old in store.open_codes(session, req.id, name):
            old.superseded = True
    secret = method.new_secret()
    ttl = method.config.ttl_minutes
    session.add(
        VerificationCode(
            request_id=req.id,
            method=name,
            code_hash=code_hash(get_settings().secret(), name, req.id, secret),
            expires_at=utcnow() + timedelta(minutes=ttl),
        )
    )
    record(
        session,
        tenant.id,
        "system",
        "verification.code_sent",
        req.id,
        {"method": name, "expires_minutes": ttl},
    )
    if phone:
        _sms(
            session,
            req,
            to,
            f"{tenant.name}: your verification code is {secret}. "
            f"It expires in {ttl} minutes. If you did not ask, ignore this.",
        )
    else:
        _mail(session, tenant, req, to, name, secret, ttl, intro)


def _throttle_sends(session: Session, req: Request) -> None:
    since = utcnow() - timedelta(hours=1)
    recent = [c for c in request_store.all_codes(session, req.id) if c.created_at >= since]
    if len(recent) >= CODES_PER_HOUR:
        raise FerryError(
            "too many codes were sent in the last hour; try again later",
            code="too_many_codes",
            status=429,
        )


def _mail(
    session: Session,
    tenant: Tenant,
    req: Request,
    to: str,
    name: str,
    secret: str,
    ttl: int,
    intro: str,
) -> None:
    if name == "magic-link":
        link = notify.portal_url(tenant.slug, req.id, f"/verify/link?t={secret}")
        what, action = "Your sign-in link", f"Open {link}"
    else:
        page = notify.portal_url(tenant.slug, req.id, "/verify")
        what, action = f"Your verification code is {secret}", f"Enter it on {page}"
    body = (
        f"{intro}{what}\n\n{action} within {ttl} minutes to confirm that you asked "
        f"{tenant.name} for your personal data.\n\n"
        "If you did not ask for this, ignore this message: nothing will be sent without it."
    )
    notify.send(
        session,
        req,
        to,
        f"Your code for your {tenant.name} data request",
        body,
        "verification_code",
    )


def _sms(session: Session, req: Request, to: str, body: str) -> None:
    settings = get_settings()
    try:
        sms.provider(settings.sms_provider, settings.sms_config()).send(to, body)
    except sms.SmsError as err:
        record(
            session,
            req.tenant_id,
            "system",
            "notice.failed",
            req.id,
            {"purpose": "verification_code", "via": "sms", "error": err.message[:300]},
        )
        raise
    record(
        session,
        req.tenant_id,
        "system",
        "notice.sent",
        req.id,
        {"purpose": "verification_code", "via": "sms"},
    )


def check(
    session: Session,
    req: Request,
    name: str,
    answer: dict[str, str],
    client: str | None,
    actor: str = "subject",
    points: tuple[str, ...] = (),
    now: datetime | None = None,
) -> Result:
    """Compare with the newest open code of this method: single use, unexpired, per request."""
    verify_guard.refuse_if_locked(session, req, client)
    if req.state in CLOSED:
        raise InvalidInput(
            f"this request is {req.state}; there is nothing to verify",
            code="request_closed",
            status=409,
        )
    method = _code_method(session, req, name)
    codes = store.open_codes(session, req.id, name)
    current = codes[0] if codes else None
    expected = current.code_hash if current else "0" * 64  # a decoy: the same hash work
    outcome = method.check(Attempt(req.id, get_settings().secret(), answer, {"hash": expected}))
    if current is None:
        return Result(
            VerificationError(
                "there is no active code for this request (it was used or replaced); "
                "ask for a new one",
                code="no_active_code",
            )
        )
    if current.expires_at < (now or utcnow()):
        current.superseded = True
        record(session, req.tenant_id, actor, "verification.code_expired", req.id, {"method": name})
        return Result(
            VerificationError("this code has expired; ask for a new one", code="code_expired")
        )
    if not outcome.passed:
        current.attempts += 1
        return wrong(session, req, name, client, "that code is not right")
    current.used_at = utcnow()
    if points:
        outcome = replace(outcome, points=points)
    grant(session, req, name, outcome, actor)
    return Result(token=subject_token(req.id), outcome=outcome)


def wrong(session: Session, req: Request, name: str, client: str | None, what: str) -> Result:
    failure = verify_guard.failed(session, req, name, client)
    if failure.locked:
        return Result(verify_guard.VerificationLocked(verify_guard.LOCKED_MESSAGE))
    left = failure.attempts_left
    return Result(
        VerificationError(
            f"{what}; {left} {'try' if left == 1 else 'tries'} left",
            code="verification_failed" if name == "knowledge" else None,
        )
    )
