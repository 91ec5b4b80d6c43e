"""The download centre: the person signs in with a one-time code sent to their email and sees
every package the tenant holds for that address.

Sign-in never says whether the address is known: a pending token is handed back either way, and a
code is mailed only when there is something to download. The code is the one verification uses
(bound to the person's newest downloadable request); the centre token that follows names the
tenant and the address and lasts an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ferry.crypto.tokens import sign, unsign
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError, Forbidden
from ferry.domain.models import Identity, RequestState
from ferry.services import packages, recipients, verification
from ferry.services.audit import record
from ferry.settings import get_settings
from ferry.store import requests, tenants
from ferry.store.tables import (
    PackagePurge,
    Request,
    RequestIdentity,
    VerificationCode,
)

_PENDING, _CENTRE = "centre-pending", "centre"
_PENDING_S, _CENTRE_S = 20 * 60, 3600
_DOWNLOADABLE = (RequestState.READY.value, RequestState.DELIVERED.value)
_CODES_PER_HOUR = 5


@dataclass(frozen=True)
class PackageEntry:
    request_id: str
    kind: str
    state: str
    created_at: datetime
    size: int
    sha256: str
    downloads: int
    max_downloads: int
    purge_after: datetime


def _requests_for(session: Session, tenant_id: int, email: str) -> list[Request]:
    query = (
        select(Request)
        .join(RequestIdentity, RequestIdentity.request_id == Request.id)
        .where(
            Request.tenant_id == tenant_id,
            Request.state.in_(_DOWNLOADABLE),
            RequestIdentity.type == "email",
            RequestIdentity.value == email,
        )
        .order_by(Request.created_at.desc())
    )
    return list(session.scalars(query).unique())


def start_sign_in(tenant_slug: str, email: str) -> str:
    """Mail a code if this address has packages; the answer is the same either way."""
    address = Identity.parse("email", email).value
    secret = get_settings().secret()
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        found = _requests_for(session, tenant.id, address)
        target = found[0].id if found else None
        if found and _recent_codes(session, found[0].id) < _CODES_PER_HOUR:
            verification.issue_code(session, tenant, found[0], address)
    return sign(secret, _PENDING, {"t": tenant_slug, "e": address, "r": target})


def _recent_codes(session: Session, request_id: str) -> int:
    since = utcnow() - timedelta(hours=1)
    query = (
        select(func.count())
        .select_from(VerificationCode)
        .where(VerificationCode.request_id == request_id, VerificationCode.created_at >= since)
    )
    return int(session.scalar(query) or 0)


def finish_sign_in(tenant_slug: str, pending: str, code: str) -> str:
    """Check the code; returns the centre token for this tenant and address."""
    secret = get_settings().secret()
    payload = unsign(secret, _PENDING, pending, _PENDING_S)
    if payload.get("t") != tenant_slug:
        raise Forbidden("this sign-in belongs to another company's page", code="not_signed_in")
    if not payload.get("r"):
        raise verification.VerificationError("that code is not right")
    verification.check_code(str(payload["r"]), code)
    return sign(secret, _CENTRE, {"t": tenant_slug, "e": payload["e"]})


def address(tenant_slug: str, token: str) -> str:
    """The signed-in person's address (raises unless the centre token is good)."""
    return _address(tenant_slug, token)


def _address(tenant_slug: str, token: str) -> str:
    payload = unsign(get_settings().secret(), _CENTRE, token, _CENTRE_S)
    if payload.get("t") != tenant_slug or not payload.get("e"):
        raise Forbidden("sign in to the download centre first", code="not_signed_in")
    return str(payload["e"])


def list_packages(tenant_slug: str, token: str) -> list[PackageEntry]:
    email = _address(tenant_slug, token)
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        policy = recipients.policy(session, tenant.id)
        entries = []
        for req in _requests_for(session, tenant.id, email):
            package = requests.latest_package(session, req.id)
            if package is None or session.get(PackagePurge, package.id) is not None:
                continue
            entries.append(
                PackageEntry(
                    req.id,
                    req.kind,
                    req.state,
                    package.created_at,
                    package.size,
                    package.sha256,
                    package.downloads,
                    policy.max_downloads,
                    package.created_at + timedelta(days=policy.retention_days),
                )
            )
        record(session, tenant.id, "subject", "centre.listed", data={"packages": len(entries)})
        return entries


def link(tenant_slug: str, token: str, request_id: str) -> packages.DownloadLink:
    """A fresh expiring link to one of this person's packages (someone else's looks absent)."""
    email = _address(tenant_slug, token)
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        mine = {r.id for r in _requests_for(session, tenant.id, email)}
    if request_id not in mine:
        raise FerryError("no such package", code="request_not_found", status=404)
    return packages.download_link(request_id, "subject")
