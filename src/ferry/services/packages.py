"""Packages: expiring signed download links, the download itself, and offline verification."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from ferry.crypto import age as age_crypto
from ferry.crypto.envelope import DecryptionFailed
from ferry.crypto.signing import parse_public_key
from ferry.crypto.tokens import TokenExpired, TokenInvalid, sign, unsign
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError
from ferry.domain.models import RequestState
from ferry.export.package import VerifyReport, verify_package
from ferry.services import packaging, recipients
from ferry.services.audit import events_for, record
from ferry.services.lifecycle import move
from ferry.services.requests import load
from ferry.settings import get_settings
from ferry.store import deliveries, requests
from ferry.store.tables import Delivery, Package

_PURPOSE = "download"
MAX_RESUMES = 20  # free resumes per link after a counted download
_OUTER_MAX_AGE_S = 3650 * 86400  # each link carries its own expiry (the tenant's lifetime)
_DOWNLOADABLE = (RequestState.READY, RequestState.DELIVERED)


@dataclass(frozen=True)
class DownloadLink:
    url: str
    token: str
    expires_at: datetime


def download_link(request_id: str, actor: str, tenant_id: int | None = None) -> DownloadLink:
    settings = get_settings()
    with unit_of_work() as session:
        req, tenant = load(session, request_id, tenant_id)
        package = requests.latest_package(session, req.id)
        if req.state not in _DOWNLOADABLE or package is None:
            raise FerryError(
                f"the package is not ready to download (the request is {req.state})",
                code="package_not_ready",
                status=409,
            )
        ttl = recipients.policy(session, tenant.id).link_ttl_hours
        expires = utcnow() + timedelta(hours=ttl)
        token = sign(
            settings.secret(),
            _PURPOSE,
            {"r": req.id, "p": package.id, "x": _epoch(expires), "n": secrets.token_hex(4)},
        )
        record(
            session,
            tenant.id,
            actor,
            "download.link_created",
            req.id,
            {"package_sha256": package.sha256, "ttl_hours": ttl},
        )
    url = f"{settings.public_url.rstrip('/')}/api/v1/downloads/{token}"
    return DownloadLink(url, token, expires)


@dataclass(frozen=True)
class Download:
    path: Path
    filename: str
    sha256: str
    size: int
    chunks: Iterable[bytes] = ()  # the plain zip, decrypted while read


def _epoch(when: datetime) -> int:
    return int(when.replace(tzinfo=UTC).timestamp())


def open_download(token: str, resumed_from: int | None = None) -> Download:
    """Resolve a link; the first download marks the request delivered. Every one is audited.

    The link's lifetime and the download limit are the tenant's (``ferry tenant delivery``). A
    resumed download (an HTTP Range not starting at byte 0) continues one already counted.
    """
    settings = get_settings()
    payload = unsign(settings.secret(), _PURPOSE, token, _OUTER_MAX_AGE_S)
    expiry = payload.get("x", 0)
    if not isinstance(expiry, int) or expiry < _epoch(utcnow()):
        raise TokenExpired("this link has expired; ask for a new one")
    with unit_of_work() as session:
        try:
            req, tenant = load(session, str(payload["r"]), None)
            package = session.get(Package, int(payload["p"]))
        except (KeyError, ValueError, TypeError, FerryError):
            raise TokenInvalid("this link is not valid") from None
        if package is None or package.request_id != req.id or req.state not in _DOWNLOADABLE:
            raise FerryError("this package is no longer available", code="package_gone", status=410)
        if not Path(package.path).is_file():
            raise FerryError("this package is no longer available", code="package_gone", status=410)
        link = hashlib.sha256(token.encode()).hexdigest()[:16]
        resumed = bool(resumed_from) and _may_resume(session, tenant.id, req.id, link)
        limit = recipients.policy(session, tenant.id).max_downloads
        if not resumed and package.downloads >= limit:
            record(session, tenant.id, "subject", "download.refused", req.id, {"limit": limit})
            session.commit()
            raise FerryError(
                f"this package was downloaded {limit} times, the most allowed; ask the team "
                "for a new copy if you need one",
                code="download_limit",
                status=429,
            )
        if not resumed:
            package.downloads += 1
            _receipt(session, tenant.id, req.id, package)
        record(
            session,
            tenant.id,
            "subject",
            "package.downloaded",
            req.id,
            {
                "sha256": package.sha256,
                "count": package.downloads,
                "resumed_from": resumed_from if resumed else None,
                "link": link,
            },
        )
        if req.state == RequestState.READY:
            move(session, req, RequestState.DELIVERED, "subject", {"via": "download"})
        return Download(
            Path(package.path),
            f"{tenant.slug}-data-{req.id[:8]}.zip",
            package.sha256,
            package.size,
            packaging.chunks(session, package, tenant.id),
        )


def _receipt(session: Session, tenant_id: int, request_id: str, package: Package) -> None:
    """The download centre's delivery row: made at the first download, counted after."""
    key = hashlib.sha256(f"download:{request_id}:{package.id}".encode()).hexdigest()[:40]
    row = deliveries.by_key(session, key, lock=True)
    if row is None:
        row = Delivery(
            tenant_id=tenant_id,
            request_id=request_id,
            package_id=package.id,
            channel="download",
            idempotency_key=key,
            state="delivered",
            attempts=0,
            delivered_at=utcnow(),
            receipt={"sha256": package.sha256, "first_download_at": utcnow().isoformat()},
        )
        session.add(row)
    row.attempts = package.downloads
    row.receipt = {**row.receipt, "downloads": package.downloads}


def _may_resume(session: Session, tenant_id: int, request_id: str, link: str) -> bool:
    """A Range request is a free resume only on a link that already started a counted download,
    and at most ``MAX_RESUMES`` times per link; otherwise it counts like a new download."""
    used = [
        e.data
        for e in events_for(session, tenant_id, request_id)
        if e.action == "package.downloaded" and e.data.get("link") == link
    ]
    started = any(d.get("resumed_from") is None for d in used)
    resumes = sum(1 for d in used if d.get("resumed_from") is not None)
    return started and resumes < MAX_RESUMES


def verify_file(path: Path, key: str | None = None) -> VerifyReport:
    """Check a package offline; ``key`` is the signer's public key (PEM, base64, hex, or a
    file holding one)."""
    if not path.is_file():
        raise FerryError(f"no such file: {path}", code="file_not_found", status=404)
    return verify_package(path, key=_public_key(key) if key else None)


def _public_key(text: str) -> bytes:
    candidate = Path(text)
    try:
        if len(text) < 4096 and candidate.is_file():
            text = candidate.read_text("utf-8", "replace")
    except OSError:
        pass
    try:
        return parse_public_key(text)
    except ValueError as exc:
        raise FerryError(f"--key: {exc}", code="invalid_key", status=422) from None


def fetch(
    request_id: str,
    dest: Path,
    actor: str,
    age_recipients: Sequence[str] = (),
    age_passphrase: str | None = None,
) -> Path:
    """Write the request's package (decrypted, or age-encrypted for delivery) to ``dest`` for
    an agent; recorded in the audit trail."""
    with unit_of_work() as session:
        req, tenant = load(session, request_id, None)
        package = requests.latest_package(session, req.id)
        if package is None or not Path(package.path).is_file():
            raise FerryError(
                "this request has no package; run the collection first",
                code="no_package",
                status=404,
            )
        age = "recipients" if age_recipients else "passphrase" if age_passphrase else None
        data = {"sha256": package.sha256, "age": age}
        record(session, tenant.id, actor, "package.fetched", req.id, data)
        chunks = packaging.chunks(session, package, tenant.id)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        if age_recipients:
            age_crypto.encrypt_to(chunks, dest, list(age_recipients))
        elif age_passphrase:
            age_crypto.encrypt_with_passphrase(chunks, dest, age_passphrase)
        else:
            _write(chunks, dest)
    except age_crypto.AgeError as exc:
        raise FerryError(str(exc), code="invalid_age_option", status=422) from None
    except DecryptionFailed as exc:
        raise FerryError(
            f"the stored package cannot be opened: {exc}; run the collection again",
            code="package_damaged",
            status=500,
        ) from None
    return dest


def _write(chunks: Iterable[bytes], dest: Path) -> None:
    tmp = dest.with_name(f".{dest.name}.partial")
    try:
        with tmp.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def redactions(
    request_id: str, actor: str, tenant_id: int | None = None
) -> packaging.RedactionView:
    """The redaction report of the request's package, for the reviewer (audited)."""
    with unit_of_work() as session:
        req, tenant = load(session, request_id, tenant_id)
        package = requests.latest_package(session, req.id)
        if package is None:
            raise FerryError("this request has no package yet", code="no_package", status=404)
        record(session, tenant.id, actor, "redactions.viewed", req.id, {})
        return packaging.redaction_report(session, package, tenant.id)
