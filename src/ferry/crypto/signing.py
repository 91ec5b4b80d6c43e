"""Ed25519 package signatures: keys, the signature file, and checking it offline.

The signature covers the bytes of ``tagmanifest-sha256.txt``, which lists the checksums of
the other tag files, including ``manifest-sha256.txt``, which lists every data file: one
signature vouches for the whole package. It travels in ``signature-ed25519.txt``::

    Algorithm: Ed25519
    Signed-File: tagmanifest-sha256.txt
    Key-Id: 3f2a9c0e1b7d5a64
    Public-Key: <base64 of the 32-byte raw key>
    Signature: <base64 of the 64-byte signature>
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIGNATURE_FILE = "signature-ed25519.txt"
SIGNED_FILE = "tagmanifest-sha256.txt"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    """Signs with one Ed25519 private key."""

    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_raw(cls, raw: bytes) -> Signer:
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def private_raw(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(*_RAW)

    @property
    def key_id(self) -> str:
        return key_id(self.public_raw)

    def signature_file(self, signed: bytes) -> bytes:
        signature = self.private.sign(signed)  # Ed25519 is deterministic: same bytes each time
        lines = [
            "Algorithm: Ed25519",
            f"Signed-File: {SIGNED_FILE}",
            f"Key-Id: {self.key_id}",
            f"Public-Key: {base64.b64encode(self.public_raw).decode()}",
            f"Signature: {base64.b64encode(signature).decode()}",
        ]
        return ("\n".join(lines) + "\n").encode("ascii")


def public_pem(public_raw: bytes) -> str:
    key = Ed25519PublicKey.from_public_bytes(public_raw)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii")


def parse_public_key(text: str) -> bytes:
    """A public key given as PEM, or base64 of the 32 raw bytes, or 64 hex digits."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("the PEM key is not an Ed25519 key")
            return key.public_bytes(*_RAW)
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"not an Ed25519 public key (PEM, base64 or hex): {exc}") from None
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key has 32 bytes, this one has {len(raw)}")
    return raw


@dataclass(frozen=True)
class SignatureCheck:
    ok: bool
    key_id: str | None
    problem: str | None = None


def check_signature(signature_file: bytes, signed: bytes, trusted: bytes | None) -> SignatureCheck:
    """Check the signature file against the signed bytes (and the trusted key, if given)."""
    fields = _fields(signature_file)
    if fields.get("Algorithm") != "Ed25519" or fields.get("Signed-File") != SIGNED_FILE:
        return SignatureCheck(False, None, f"{SIGNATURE_FILE} is malformed (algorithm or file)")
    try:
        public = base64.b64decode(fields.get("Public-Key", ""), validate=True)
        signature = base64.b64decode(fields.get("Signature", ""), validate=True)
        key = Ed25519PublicKey.from_public_bytes(public)
    except (ValueError, binascii.Error):
        return SignatureCheck(False, None, f"{SIGNATURE_FILE} has an unreadable key or signature")
    kid = key_id(public)
    if trusted is not None and trusted != public:
        problem = f"signed by key {kid}, which is not the key you gave ({key_id(trusted)})"
        return SignatureCheck(False, kid, problem)
    try:
        key.verify(signature, signed)
    except InvalidSignature:
        problem = f"the signature does not match {SIGNED_FILE}: the package was changed"
        return SignatureCheck(False, kid, problem)
    return SignatureCheck(True, kid)


def _fields(text: bytes) -> dict[str, str]:
    found = {}
    for line in text.decode("utf-8", "replace").splitlines():
        name, sep, value = line.partition(":")
        if sep:
            found[name.strip()] = value.strip()
    return found
