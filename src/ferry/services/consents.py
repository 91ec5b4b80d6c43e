"""Consent records for consent-share requests: who agreed to share what with whom, for what,
until when, how it was given and the proof. A share runs only inside its consent's scope and
time; revoking stops every share not yet delivered. Each step is in the audit trail, and a consent
is exportable as a receipt (fields after the Kantara Consent Receipt)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.crypto.tokens import sign, unsign
from ferry.db import unit_of_work
from ferry.delivery import mail
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError, InvalidInput, NotFound
from ferry.domain.models import Identity, RequestState, Scope
from ferry.services.audit import record
from ferry.settings import get_settings
from ferry.store import deliveries, tenants
from ferry.store import requests as request_store
from ferry.store.tables import Consent, Request, RequestConsent, RequestRecipient, Tenant

_PERSON = "consent-person"
METHODS = ("portal", "web-form", "paper", "verbal", "api", "email")
_DONE = (RequestState.DELIVERED, RequestState.CLOSED, RequestState.REJECTED, RequestState.WITHDRAWN)


class OutsideConsent(FerryError):
    code = "outside_consent"
    status = 403


@dataclass(frozen=True)
class ConsentView:
    id: str
    tenant: str
    recipient: str
    purpose: str
    categories: list[str]
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    method: str
    active: bool

    @classmethod
    def of(cls, c: Consent, slug: str, recipient: str) -> ConsentView:
        active = c.revoked_at is None and c.expires_at > utcnow()
        return cls(
            c.id,
            slug,
            recipient,
            c.purpose,
            list(c.categories),
            c.granted_at,
            c.expires_at,
            c.revoked_at,
            c.method,
            active,
        )


def grant(
    tenant_slug: str,
    subject_email: str,
    recipient: str,
    purpose: str,
    categories: list[str],
    expires_at: datetime,
    method: str,
    proof: str,
    actor: str,
) -> ConsentView:
    email = Identity.parse("email", subject_email).value
    if not purpose.strip() or len(purpose) > 2000:
        raise InvalidInput("say what the data will be used for (purpose, up to 2000 characters)")
    if not categories:
        raise InvalidInput("a consent names the data categories it covers")
    Scope(categories=tuple(categories))  # validates the category keys
    if method not in METHODS:
        raise InvalidInput(f"method {method!r}: use one of {', '.join(METHODS)}")
    if expires_at.tzinfo is not None:
        expires_at = expires_at.astimezone(UTC).replace(tzinfo=None)
    if expires_at <= utcnow():
        raise InvalidInput("the consent must expire in the future")
    if len(proof) > 10000 or not re.search(r"\S", proof):
        raise InvalidInput("give the proof of consent (a reference, up to 10000 characters)")
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        rcpt = deliveries.recipient_by_name(session, tenant.id, recipient)
        consent = Consent(
            id=secrets.token_hex(16),
            tenant_id=tenant.id,
            subject=email,
            recipient_id=rcpt.id,
            purpose=purpose.strip(),
            categories=list(dict.fromkeys(categories)),
            granted_at=utcnow(),
            expires_at=expires_at,
            method=method,
            proof=proof.strip(),
        )
        session.add(consent)
        session.flush()
        record(session, tenant.id, actor, "consent.granted", data=_audit_data(consent, rcpt.name))
        _tell_person(session, tenant, consent, rcpt.name)
        return ConsentView.of(consent, tenant.slug, rcpt.name)


def person_token(consent_id: str) -> str:
    return sign(get_settings().secret(), _PERSON, {"c": consent_id})


def from_person_token(token: str) -> str:
    payload = unsign(get_settings().secret(), _PERSON, token, 3650 * 86400)
    return str(payload.get("c", ""))


def _tell_person(session: Session, tenant: Tenant, consent: Consent, recipient: str) -> None:
    """Mail the person a link to see and revoke the consent (no data, no proof in the mail)."""
    settings = get_settings()
    link = f"{settings.public_url.rstrip('/')}/p/{tenant.slug}/consents/{person_token(consent.id)}"
    body = (
        f"You agreed that {tenant.name} may share some of your data with {recipient}.\n\n"
        f"See what you agreed to, or withdraw your consent at any time, at {link}\n"
    )
    try:
        mail.send(settings, consent.subject, f"Your consent to share data with {recipient}", body)
    except (OSError, ValueError) as exc:
        record(
            session,
            tenant.id,
            "system",
            "notice.failed",
            data={"purpose": "consent_granted", "error": f"{type(exc).__name__}: {exc}"[:300]},
        )
        return
    record(session, tenant.id, "system", "notice.sent", data={"purpose": "consent_granted"})


def _audit_data(c: Consent, recipient: str) -> dict[str, Any]:
    return {
        "consent": c.id,
        "recipient": recipient,
        "purpose": c.purpose[:300],
        "categories": list(c.categories),
        "expires_at": c.expires_at.isoformat(),
        "method": c.method,
    }


def _load(session: Session, consent_id: str, tenant_id: int | None) -> tuple[Consent, Tenant]:
    consent = session.get(Consent, consent_id)
    if consent is None or (tenant_id is not None and consent.tenant_id != tenant_id):
        raise NotFound(f"no consent {consent_id!r}", code="consent_not_found")
    return consent, session.get_one(Tenant, consent.tenant_id)


def show(consent_id: str, tenant_id: int | None = None) -> ConsentView:
    with unit_of_work() as session:
        consent, tenant = _load(session, consent_id, tenant_id)
        rcpt = deliveries.recipient_by_id(session, consent.recipient_id)
        return ConsentView.of(consent, tenant.slug, rcpt.name if rcpt else "?")


def revoke(consent_id: str, actor: str, tenant_id: int | None = None) -> ConsentView:
    """Revoke now; every share under it that is not yet delivered is withdrawn."""
    from ferry.services.lifecycle import move

    with unit_of_work() as session:
        consent, tenant = _load(session, consent_id, tenant_id)
        if consent.revoked_at is None:
            consent.revoked_at = utcnow()
            record(session, tenant.id, actor, "consent.revoked", data={"consent": consent.id})
        for req in _requests_under(session, consent.id):
            if RequestState(req.state) not in _DONE:
                move(
                    session,
                    req,
                    RequestState.WITHDRAWN,
                    actor,
                    {"reason": "the consent was revoked", "consent": consent.id},
                )
    return show(consent_id, tenant_id)


def _requests_under(session: Session, consent_id: str) -> list[Request]:
    query = (
        select(Request)
        .join(RequestConsent, RequestConsent.request_id == Request.id)
        .where(RequestConsent.consent_id == consent_id)
    )
    return list(session.scalars(query))


def bind(session: Session, tenant_id: int, req: Request, consent_id: str, actor: str) -> None:
    """Bind a consent-share request to its consent and the consent's recipient. The request's
    identities must include the consenting address; its scope (by default the consent's
    categories) must sit inside the consent."""
    consent, _ = _load(session, consent_id, tenant_id)
    emails = {i.value for i in req.identities if i.type == "email"}
    if consent.subject not in emails:
        raise OutsideConsent("this consent was given by someone else")
    scope = Scope.from_dict(req.scope)
    if not scope.categories:
        scope = Scope(tuple(consent.categories), scope.systems, scope.since, scope.until)
        req.scope = scope.to_dict()
    check(consent, scope)
    session.add(RequestConsent(request_id=req.id, consent_id=consent.id))
    session.add(RequestRecipient(request_id=req.id, recipient_id=consent.recipient_id))
    record(session, tenant_id, actor, "request.consent_attached", req.id, {"consent": consent.id})


def check(consent: Consent, scope: Scope, when: datetime | None = None) -> None:
    """Raise :class:`OutsideConsent` unless a share of ``scope`` now is inside the consent."""
    now = when or utcnow()
    if consent.revoked_at is not None:
        raise OutsideConsent("the consent was revoked; nothing is shared")
    if consent.expires_at <= now:
        raise OutsideConsent("the consent has expired; nothing is shared")
    if not scope.categories:
        raise OutsideConsent("a share must name its data categories (the consent's or fewer)")
    allowed = Scope(categories=tuple(consent.categories))
    outside = [c for c in scope.categories if not allowed.covers_category(c)]
    if outside:
        raise OutsideConsent(f"categories outside the consent: {', '.join(outside)}")


def check_request(session: Session, req: Request) -> None:
    """Before a consent-share leaves: its consent must still allow it (recorded either way)."""
    link = session.get(RequestConsent, req.id)
    if link is None:
        if req.kind == "consent-share":
            raise OutsideConsent("this consent-share request has no consent record")
        return
    consent = session.get_one(Consent, link.consent_id)
    try:
        check(consent, Scope.from_dict(req.scope))
    except OutsideConsent as exc:
        record(
            session,
            req.tenant_id,
            "system",
            "consent.share_refused",
            req.id,
            {"consent": consent.id, "why": exc.message},
        )
        session.commit()
        raise
    record(
        session, req.tenant_id, "system", "consent.share_allowed", req.id, {"consent": consent.id}
    )


def receipt(consent_id: str, tenant_id: int | None = None) -> dict[str, Any]:
    """The consent as a receipt the person or an auditor can keep."""
    with unit_of_work() as session:
        c, tenant = _load(session, consent_id, tenant_id)
        rcpt = deliveries.recipient_by_id(session, c.recipient_id)
        record(session, tenant.id, "system", "consent.receipt_issued", data={"consent": c.id})
        return {
            "version": "ferry-consent-receipt/1 (after Kantara Consent Receipt 1.1)",
            "consentReceiptID": c.id,
            "jurisdiction": list(tenant.jurisdictions),
            "consentTimestamp": int(c.granted_at.replace(tzinfo=UTC).timestamp()),
            "collectionMethod": c.method,
            "piiPrincipalId": c.subject,
            "piiControllers": [{"piiController": tenant.name, "piiControllerId": tenant.slug}],
            "services": [
                {
                    "service": f"share with {rcpt.name if rcpt else '?'}",
                    "recipient": {
                        "name": rcpt.name if rcpt else None,
                        "country": rcpt.country if rcpt else None,
                    },
                    "purposes": [
                        {
                            "purpose": c.purpose,
                            "consentType": "EXPLICIT",
                            "piiCategory": list(c.categories),
                            "termination": c.expires_at.isoformat(),
                        }
                    ],
                }
            ],
            "proof": c.proof,
            "revokedAt": c.revoked_at.isoformat() if c.revoked_at else None,
        }


def attach_to_request(
    request_id: str, consent_id: str, actor: str, tenant_id: int | None = None
) -> None:
    """Attach the consent a consent-share request runs under (when it came in without one)."""
    with unit_of_work() as session:
        req = request_store.get(session, request_id, tenant_id)
        if req.kind != "consent-share":
            raise InvalidInput("only a consent-share request runs under a consent")
        if session.get(RequestConsent, req.id) is not None:
            raise InvalidInput("this request already has its consent", code="consent_attached")
        if req.state not in ("received", "awaiting_verification", "verified", "paused"):
            raise InvalidInput(
                "attach the consent before the data is collected (the package must be built "
                "to the consent's scope); this request is already " + req.state,
                code="too_late_for_consent",
            )
        bind(session, req.tenant_id, req, consent_id, actor)
