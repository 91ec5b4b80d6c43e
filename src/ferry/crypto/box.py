"""Encryption at rest for small secrets and uploaded files (Fernet: AES-128-CBC + HMAC-SHA256).

The key is derived from the settings secret with HKDF and a purpose label, so a TOTP secret and
an identity document are sealed under different keys and neither equals the signing secret.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ferry.domain.errors import FerryError


class SealBroken(FerryError):
    code = "sealed_data_unreadable"
    status = 500


def _key(secret: str, purpose: str) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ferry-box-v1", info=purpose.encode())
    return base64.urlsafe_b64encode(hkdf.derive(secret.encode()))


def seal(secret: str, purpose: str, plaintext: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext`` under the key for ``purpose``."""
    return Fernet(_key(secret, purpose)).encrypt(plaintext)


def unseal(secret: str, purpose: str, token: bytes) -> bytes:
    """The plaintext of :func:`seal`, or ``SealBroken`` if it was altered or the key differs."""
    try:
        return Fernet(_key(secret, purpose)).decrypt(token)
    except InvalidToken:
        raise SealBroken(
            "stored encrypted data could not be opened: it was altered or the secret key changed"
        ) from None
