"""The secrets box: client-system credentials encrypted at rest (Fernet: AES-128-CBC + HMAC).

The key is derived (HKDF-SHA256) from Ferry's secret (``FERRY_SECRET_KEY`` or ``var/secret.key``),
so the store alone never reveals a password. Sealed values are only opened where a connector
is built; they are never printed, logged or returned by the API.
"""

from __future__ import annotations

import base64
import json

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ferry.domain.errors import FerryError

_INFO = b"ferry/system-credentials/v1"


def _fernet(secret: str) -> Fernet:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str, values: dict[str, str]) -> str:
    """Encrypt a small mapping of credential names to values."""
    return _fernet(secret).encrypt(json.dumps(values, sort_keys=True).encode()).decode("ascii")


def unseal(secret: str, token: str | None) -> dict[str, str]:
    """Decrypt what :func:`seal` made; ``{}`` for nothing stored."""
    if not token:
        return {}
    try:
        data = json.loads(_fernet(secret).decrypt(token.encode("ascii")))
    except (InvalidToken, ValueError):
        raise FerryError(
            "stored system credentials cannot be decrypted: FERRY_SECRET_KEY is not the one they "
            "were stored with; set it back, or add the system again with its credentials",
            code="credentials_unreadable",
            status=500,
        ) from None
    return {str(k): str(v) for k, v in data.items()}
