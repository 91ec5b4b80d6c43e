"""Tenant keys, made on first use: an Ed25519 package-signing key, an AES package key, and an
Ed25519 key that signs transfer requests over HTTP (RFC 9421).

Secret parts are stored wrapped (AES-GCM) under a key derived from the settings secret with
HKDF, bound to the tenant, purpose and key id; the database alone opens nothing.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from ferry.crypto import httpsig
from ferry.crypto.envelope import unwrap, wrap
from ferry.crypto.signing import Signer, public_pem
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import FerryError
from ferry.services.audit import record
from ferry.settings import get_settings
from ferry.store import keys, tenants, txn
from ferry.store.tables import Tenant, TenantKey

SIGNING = "signing"
PACKAGES = "packages"
HTTP = "http"
PURPOSES = (SIGNING, PACKAGES, HTTP)


def _kek() -> bytes:
    secret = get_settings().secret().encode("utf-8")
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ferry", info=b"tenant keys v1")
    return hkdf.derive(secret)


def _context(tenant_id: int, purpose: str, key_id: str) -> bytes:
    return f"{tenant_id}:{purpose}:{key_id}".encode()


def _open(row: TenantKey) -> bytes:
    context = _context(row.tenant_id, row.purpose, row.key_id)
    return unwrap(_kek(), base64.b64decode(row.secret), context)


def _store(
    session: Session, tenant_id: int, purpose: str, key_id: str, secret: bytes, public: bytes | None
) -> None:
    wrapped = wrap(_kek(), secret, _context(tenant_id, purpose, key_id))
    session.add(
        TenantKey(
            tenant_id=tenant_id,
            purpose=purpose,
            key_id=key_id,
            public=base64.b64encode(public).decode() if public else None,
            secret=base64.b64encode(wrapped).decode(),
        )
    )
    session.flush()


def signer_for(session: Session, tenant: Tenant) -> Signer:
    """The tenant's signing key (made, and stored wrapped, the first time)."""
    return _ed25519(session, tenant, SIGNING)


def _ed25519(session: Session, tenant: Tenant, purpose: str) -> Signer:
    row = keys.active(session, tenant.id, purpose)
    if row is None:
        tenants.lock(session, tenant.id)
        row = keys.active(session, tenant.id, purpose)
    if row is not None:
        return Signer.from_raw(_open(row))
    signer = _legacy_http_key(session, tenant) if purpose == HTTP else None
    signer = signer or Signer.generate()
    _store(session, tenant.id, purpose, signer.key_id, signer.private_raw(), signer.public_raw)
    return signer


def _legacy_http_key(session: Session, tenant: Tenant) -> Signer | None:
    """Adopt an HTTP-signing key that an earlier version kept as a plain PEM file in
    ``var/keys/TENANT/``, so receivers that trust it keep working; the file is then removed."""
    path = get_settings().var_dir / "keys" / tenant.slug / "http-ed25519.pem"
    if not path.is_file():
        return None
    try:
        signer = Signer(httpsig.load_private_pem(path.read_bytes()))
    except ValueError as exc:
        raise FerryError(
            f"{path} is not a readable Ed25519 key ({exc}); move it away to make a new key",
            code="http_key_unreadable",
            status=500,
        ) from None
    record(
        session,
        tenant.id,
        "system",
        "key.imported",
        None,
        {"purpose": HTTP, "key_id": signer.key_id, "from": "var/keys (plain file, removed)"},
    )
    # the file goes only once the key is stored: a rolled-back transaction must not lose it
    txn.after_commit(session, lambda: path.unlink(missing_ok=True))
    return signer


def http_key_id(slug: str) -> str:
    """The ``keyid`` a transfer signature names: where receivers fetch the public key."""
    return f"{get_settings().public_url.rstrip('/')}/api/v1/tenants/{slug}/keys/http"


def http_signing_key(session: Session, tenant: Tenant) -> httpsig.SigningKey:
    """The tenant's key for signing transfer requests (made, and stored wrapped, on first use)."""
    return httpsig.SigningKey(http_key_id(tenant.slug), _ed25519(session, tenant, HTTP).private)


def http_public_key(slug: str) -> httpsig.SigningKey:
    with unit_of_work() as session:
        return http_signing_key(session, tenants.get_by_slug(session, slug))


def package_key(session: Session, tenant: Tenant) -> tuple[str, bytes]:
    """``(key id, key)`` of the tenant's current package key (made the first time)."""
    row = keys.active(session, tenant.id, PACKAGES)
    if row is None:
        tenants.lock(session, tenant.id)
        row = keys.active(session, tenant.id, PACKAGES)
    if row is not None:
        return row.key_id, _open(row)
    secret = os.urandom(32)
    key_id = hashlib.sha256(b"ferry package key" + secret).hexdigest()[:16]
    _store(session, tenant.id, PACKAGES, key_id, secret, None)
    return key_id, secret


def package_key_by_id(session: Session, tenant_id: int, key_id: str) -> bytes:
    row = keys.by_id(session, tenant_id, PACKAGES, key_id)
    if row is None:
        raise FerryError(
            "the key that encrypted this package is gone; the package cannot be opened",
            code="package_key_missing",
            status=410,
        )
    return _open(row)


@dataclass(frozen=True)
class PublicKey:
    tenant: str
    key_id: str
    algorithm: str
    public_key: str  # base64 of the 32 raw bytes
    pem: str
    created_at: datetime
    retired_at: datetime | None


def _view(slug: str, row: TenantKey) -> PublicKey:
    raw = base64.b64decode(row.public or "")
    return PublicKey(
        slug,
        row.key_id,
        "Ed25519",
        row.public or "",
        public_pem(raw),
        row.created_at,
        row.retired_at,
    )


def signing_keys(slug: str) -> list[PublicKey]:
    """The tenant's public signing keys (made now if the tenant has none yet)."""
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, slug)
        signer_for(session, tenant)
        return [_view(slug, row) for row in keys.all_for(session, tenant.id, SIGNING)]


def all_signing_keys() -> list[PublicKey]:
    """Every tenant's public signing keys that exist (for the well-known document)."""
    with unit_of_work() as session:
        found: list[PublicKey] = []
        for tenant in tenants.list_all(session):
            found.extend(_view(tenant.slug, r) for r in keys.all_for(session, tenant.id, SIGNING))
        return found


def rotate(slug: str, purpose: str, actor: str) -> str:
    """Retire the tenant's current key of ``purpose``; a new one is made on next use.

    Retired keys are kept: old packages still open (package keys) and still verify against
    the published list (signing keys). Returns the retired key's id, or "" if there was none.
    """
    if purpose not in PURPOSES:
        raise FerryError(
            f"no key purpose {purpose!r}; use one of: {', '.join(PURPOSES)}", status=422
        )
    with unit_of_work() as session:
        tenant = tenants.lock(session, tenants.get_by_slug(session, slug).id)
        row = keys.active(session, tenant.id, purpose)
        if row is None:
            return ""
        row.retired_at = utcnow()
        record(
            session,
            tenant.id,
            actor,
            "key.retired",
            None,
            {"purpose": purpose, "key_id": row.key_id},
        )
        return row.key_id
