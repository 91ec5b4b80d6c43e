"""Pull mode of a direct transfer: the recipient fetches the package, encrypted to its age key,
from a signed URL that expires (the tenant's link lifetime). The first fetch is the delivery's
receipt; a fetch after that is audited and answered from the same package."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ferry.crypto import age
from ferry.crypto.tokens import TokenExpired, TokenInvalid, sign, unsign
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError
from ferry.domain.models import RequestState
from ferry.services import consents, packaging, recipients
from ferry.services.audit import record
from ferry.services.delivery import check_transfer, idempotency_key
from ferry.services.lifecycle import move
from ferry.services.requests import load
from ferry.settings import get_settings
from ferry.store import deliveries, requests
from ferry.store.tables import Delivery, Package

_PURPOSE = "transfer-pull"
_OUTER_S = 3650 * 86400


@dataclass(frozen=True)
class PullLink:
    url: str
    expires_at: datetime


def _epoch(when: datetime) -> int:
    return int(when.replace(tzinfo=UTC).timestamp())


def pull_link(request_id: str, actor: str, tenant_id: int | None = None) -> PullLink:
    """A URL the request's (HTTPS) recipient can fetch the encrypted package from."""
    settings = get_settings()
    with unit_of_work() as session:
        req, tenant = load(session, request_id, tenant_id)
        recipient = deliveries.recipient_for_request(session, req.id)
        package = requests.latest_package(session, req.id)
        if recipient is None or recipient.channel != "https":
            raise FerryError(
                "pull links are for requests whose recipient is an HTTPS (age) recipient",
                code="no_pull_recipient",
                status=409,
            )
        if package is None or req.state not in (RequestState.READY, RequestState.DELIVERED):
            raise FerryError("the package is not ready", code="package_not_ready", status=409)
        consents.check_request(session, req)
        check_transfer(session, req, tenant, recipient.country, recipient.name, actor)
        expires = utcnow() + timedelta(hours=recipients.policy(session, tenant.id).link_ttl_hours)
        token = sign(
            settings.secret(),
            _PURPOSE,
            {"r": req.id, "p": package.id, "c": recipient.id, "x": _epoch(expires)},
        )
        record(
            session,
            tenant.id,
            actor,
            "transfer.pull_link_created",
            req.id,
            {"recipient": recipient.name, "expires_at": expires.isoformat()},
        )
    return PullLink(f"{settings.public_url.rstrip('/')}/api/v1/transfers/{token}", expires)


@dataclass(frozen=True)
class Pulled:
    path: Path
    filename: str
    sha256: str


def open_pull(token: str, workdir: Path) -> Pulled:
    """Check the link, encrypt the package to the recipient's key into ``workdir``, record it."""
    payload = unsign(get_settings().secret(), _PURPOSE, token, _OUTER_S)
    if not isinstance(payload.get("x"), int) or payload["x"] < _epoch(utcnow()):
        raise TokenExpired("this transfer link has expired; ask the sender for a new one")
    with unit_of_work() as session:
        try:
            req, tenant = load(session, str(payload["r"]), None)
            package = session.get_one(Package, int(payload["p"]))
            recipient = deliveries.recipient_by_id(session, int(payload["c"]))
        except (KeyError, ValueError, TypeError, FerryError):
            raise TokenInvalid("this transfer link is not valid") from None
        if recipient is None or not Path(package.path).is_file():
            raise FerryError("this package is no longer available", code="package_gone", status=410)
        age_key = str(recipient.config["age_recipient"])
        filename = f"{tenant.slug}-{req.id}.zip.age"
        plain = packaging.chunks(session, package, tenant.id)  # decrypted as it is read
    target = workdir / filename
    age.encrypt_to(plain, target, [age_key])  # no plain copy on disk
    _record_fetch(req.id, package.id, recipient.id, package.sha256)
    return Pulled(target, filename, package.sha256)


def _record_fetch(request_id: str, package_id: int, recipient_id: int, sha256: str) -> None:
    key = idempotency_key(request_id, package_id, recipient_id)
    with unit_of_work() as session:
        req, tenant = load(session, request_id, None)
        row = deliveries.by_key(session, key, lock=True)
        first = row is None or row.state != "delivered"
        if row is None:
            row = Delivery(
                tenant_id=tenant.id,
                request_id=req.id,
                package_id=package_id,
                recipient_id=recipient_id,
                channel="https-pull",
                idempotency_key=key,
                attempts=0,
                receipt={},
            )
            session.add(row)
        row.attempts = (row.attempts or 0) + 1
        if first:
            row.state, row.delivered_at = "delivered", utcnow()
            row.receipt = {
                "channel": "https-pull",
                "sha256": sha256,
                "fetched_at": utcnow().isoformat(),
            }
        record(
            session,
            tenant.id,
            "recipient",
            "transfer.pulled",
            req.id,
            {"sha256": sha256, "first": first},
        )
        if first and req.state == RequestState.READY:
            move(session, req, RequestState.DELIVERED, "recipient", {"via": "https-pull"})


def temp_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="ferry-pull-")
