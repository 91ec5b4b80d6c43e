"""HTTP Message Signatures (RFC 9421, Ed25519) for transfers, and each tenant's signing key.

Signing and verifying use the ``http-message-signatures`` library; this module fixes the profile:
the signature covers the method, the target URI, ``content-type``, ``content-digest`` (SHA-256 of
the body, computed here while streaming), ``idempotency-key`` and ``x-ferry-package-sha256``, with
``created``, ``keyid``, ``alg`` and the tag ``ferry-transfer``.

The tenant's key itself is kept by ``services.keys`` (purpose ``http``, stored wrapped like
every tenant key); this module only signs and verifies with what it is given.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)

TAG = "ferry-transfer"
COVERED = (
    "@method",
    "@target-uri",
    "content-type",
    "content-digest",
    "idempotency-key",
    "x-ferry-package-sha256",
)


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey

    def public_pem(self) -> str:
        return public_pem(self.private.public_key())


def public_pem(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return raw.decode()


def load_private_pem(pem: bytes) -> Ed25519PrivateKey:
    """An Ed25519 private key from PKCS#8 PEM (the file format of keys made before 2026-11-30)."""
    private = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(private, Ed25519PrivateKey):
        raise ValueError("not an Ed25519 private key")
    return private


def file_digest(path: Path) -> str:
    """A ``Content-Digest`` value (RFC 9530) for a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
    return f"sha-256=:{base64.b64encode(digest.digest()).decode()}:"


class _Keys(HTTPSignatureKeyResolver):
    def __init__(self, private: Mapping[str, Any], public: Mapping[str, Any]) -> None:
        self.private, self.public = private, public

    def resolve_private_key(self, key_id: str) -> Any:
        return self.private[key_id]

    def resolve_public_key(self, key_id: str) -> Any:
        if key_id not in self.public:
            raise InvalidSignature(f"unknown key id {key_id!r}")
        return self.public[key_id]


def sign(message: Any, key: SigningKey, covered: Sequence[str] = COVERED) -> None:
    """Sign a request in place (an ``httpx.Request`` or anything with method, url, headers)."""
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519, key_resolver=_Keys({key.key_id: key.private}, {})
    )
    signer.sign(
        message,
        key_id=key.key_id,
        tag=TAG,
        label="ferry",
        covered_component_ids=covered,
        use_existing_digest=True,
    )


def verify(
    message: Any,
    keys: Mapping[str, Ed25519PublicKey],
    body: bytes | None = None,
    max_age: timedelta = timedelta(minutes=10),
    covered: Sequence[str] = COVERED,
) -> str:
    """Verify a signed request; returns the key id. Raises ``InvalidSignature`` when it fails."""
    verifier = HTTPMessageVerifier(
        signature_algorithm=algorithms.ED25519, key_resolver=_Keys({}, keys)
    )
    results = verifier.verify(
        message, max_age=max_age, expect_tag=TAG, require_components=covered, body=body
    )
    return str(results[0].parameters["keyid"])


__all__ = ["COVERED", "TAG", "InvalidSignature", "SigningKey", "load_private_pem", "sign", "verify"]
