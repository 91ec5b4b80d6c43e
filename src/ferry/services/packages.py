"""Packages: expiring signed download links, the download itself, and offline verification."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ferry.crypto import age as age_crypto
from ferry.crypto.envelope import DecryptionFailed
from ferry.crypto.signing import parse_public_key
from ferry.crypto.tokens import TokenInvalid, sign, unsign
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError
from ferry.domain.models import RequestState
from ferry.export.package import VerifyReport, verify_package
from ferry.services import packaging
from ferry.services.audit import record
from ferry.services.lifecycle import move
from ferry.services.requests import load
from ferry.settings import get_settings
from ferry.store import requests
from ferry.store.tables import Package

_PURPOSE = "download"
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
        token = sign(settings.secret(), _PURPOSE, {"r": req.id, "p": package.id})
        record(
            session,
            tenant.id,
            actor,
            "download.link_created",
            req.id,
            {"package_sha256": package.sha256, "ttl_hours": settings.download_ttl_hours},
        )
    expires = utcnow() + timedelta(hours=settings.download_ttl_hours)
    url = f"{settings.public_url.rstrip('/')}/api/v1/downloads/{token}"
    return DownloadLink(url, token, expires)


@dataclass(frozen=True)
class Download:
    path: Path
    filename: str
    sha256: str
    size: int
    chunks: Iterable[bytes] = ()  # the plain zip, decrypted while read


def open_download(token: str) -> Download:
    """Resolve a link; the first download marks the request delivered. Every one is audited."""
    settings = get_settings()
    payload = unsign(settings.secret(), _PURPOSE, token, settings.download_ttl_hours * 3600)
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
        package.downloads += 1
        record(
            session,
            tenant.id,
            "subject",
            "package.downloaded",
            req.id,
            {"sha256": package.sha256, "count": package.downloads},
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
