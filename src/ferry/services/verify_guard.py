"""Guards on verification: rate limits and failed-attempt lockouts, kept in the store.

Counters live in the ``attempt_counters`` table (fixed windows, keyed by an HMAC of what they
count, so no IP address or email is stored in clear). Being in the store, they hold across
processes and workers and survive restarts; the cost is one row lock per guarded call.

* Rate limit: at most ``RATE_PER_MINUTE`` calls per client IP per endpoint family, success or not.
* Failed attempts: per request (``Settings.code_max_attempts``, then the request is locked until
  an agent verifies another way), per identity (``IDENTITY_LIMIT`` a day, then every request
  naming it is locked for a day) and per client IP (``IP_LIMIT`` an hour, then an hour's lockout).
  Each lockout is audited and the tenant's agent is alerted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ferry.crypto.tokens import keyed_hash
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError
from ferry.services import notify
from ferry.services.audit import record
from ferry.settings import get_settings
from ferry.store import verification as store
from ferry.store.tables import AttemptCounter, Request, Tenant

RATE_PER_MINUTE = 30
IDENTITY_LIMIT = 20
IP_LIMIT = 50
DAY, HOUR, MINUTE = timedelta(days=1), timedelta(hours=1), timedelta(minutes=1)

LOCKED_MESSAGE = (
    "too many failed attempts: verification is locked for this request. The team handling it "
    "has been told and will contact you to verify another way."
)


class VerificationLocked(FerryError):
    code = "verification_locked"
    status = 423


class RateLimited(FerryError):
    code = "rate_limited"
    status = 429


def _key(kind: str, value: str) -> str:
    return keyed_hash(get_settings().secret(), "counter", kind, value)


def _row(session: Session, key: str) -> AttemptCounter:
    row = session.get(AttemptCounter, key, with_for_update=True)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            row = AttemptCounter(key=key, window_start=utcnow(), count=0)
            session.add(row)
            session.flush()
    except IntegrityError:  # another process made it first
        return session.get_one(AttemptCounter, key, with_for_update=True)
    return row


def _bump(session: Session, key: str, window: timedelta) -> int:
    row = _row(session, key)
    now = utcnow()
    if row.window_start + window <= now:
        row.window_start, row.count = now, 0
    row.count += 1
    return row.count


def _locked(session: Session, key: str) -> bool:
    row = store.counter(session, key)
    return bool(row and row.locked_until and row.locked_until > utcnow())


def _lock(session: Session, key: str, span: timedelta) -> None:
    _row(session, key).locked_until = utcnow() + span


def reset_request(session: Session, req: Request) -> None:
    """An agent verified the person: failed attempts on this request start again from zero."""
    row = store.counter(session, _key("request", req.id))
    if row is not None:
        row.count = 0


def throttle(client: str, family: str) -> None:
    """Count one call from ``client`` to ``family``; ``RateLimited`` past the limit."""
    with unit_of_work() as session:
        count = _bump(session, _key("rate:" + family, client), MINUTE)
    if count > RATE_PER_MINUTE:
        raise RateLimited(
            "too many verification attempts from your connection; wait a minute and try again"
        )


def _identity_keys(req: Request) -> list[str]:
    return [
        _key("identity", f"{req.tenant_id}:{i.type}:{i.value.casefold()}") for i in req.identities
    ]


def refuse_if_locked(session: Session, req: Request, client: str | None) -> None:
    """The same refusal whichever guard holds: request, one of its identities, or the IP."""
    keys = _identity_keys(req) + ([_key("ip", client)] if client else [])
    if req.verification_locked or any(_locked(session, k) for k in keys):
        raise VerificationLocked(LOCKED_MESSAGE)


@dataclass(frozen=True)
class Failure:
    attempts_left: int
    locked: bool


def failed(session: Session, req: Request, method: str, client: str | None) -> Failure:
    """Record a failed attempt on every guard; lock and alert where a limit is reached."""
    limit = get_settings().code_max_attempts
    on_request = _bump(session, _key("request", req.id), DAY)
    record(
        session,
        req.tenant_id,
        "subject",
        "verification.failed",
        req.id,
        {"method": method, "attempt": on_request},
    )
    reasons = []
    if on_request >= limit:
        req.verification_locked = True
        reasons.append(f"{on_request} failed attempts on this request")
    for key in _identity_keys(req):
        if _bump(session, key, DAY) >= IDENTITY_LIMIT and not _locked(session, key):
            _lock(session, key, DAY)
            reasons.append("too many failed attempts for one of its identities (24 h lockout)")
    if client:
        key = _key("ip", client)
        if _bump(session, key, HOUR) >= IP_LIMIT and not _locked(session, key):
            _lock(session, key, HOUR)
            reasons.append("too many failed attempts from one client address (1 h lockout)")
    if reasons:
        _alert(session, req, method, reasons)
    return Failure(max(limit - on_request, 0), bool(reasons) or req.verification_locked)


def _alert(session: Session, req: Request, method: str, reasons: list[str]) -> None:
    record(
        session,
        req.tenant_id,
        "system",
        "verification.locked",
        req.id,
        {"method": method, "reasons": reasons},
    )
    tenant = session.get_one(Tenant, req.tenant_id)
    if tenant.agent_email:
        notify.send(
            session,
            req,
            tenant.agent_email,
            f"Verification locked: request {req.id}",
            f"Request {req.id} was locked after failed {method} attempts: "
            + "; ".join(reasons)
            + ". Verify the person another way and record it with `ferry request verify ID "
            "--method agent --note TEXT`.",
            "agent_alert",
        )
