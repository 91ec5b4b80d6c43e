"""Client-system credentials encrypted at rest, sealed with :mod:`ferry.crypto.box`.

The key is derived from Ferry's secret (``FERRY_SECRET_KEY`` or ``var/secret.key``) for this
purpose only, so the store alone never reveals a password. Sealed values are only opened where a
connector is built; they are never printed, logged or returned by the API.
"""

from __future__ import annotations

import json

from ferry.crypto import box
from ferry.domain.errors import FerryError

_PURPOSE = "system-credentials/v1"


def seal(secret: str, values: dict[str, str]) -> str:
    """Encrypt a small mapping of credential names to values."""
    plain = json.dumps(values, sort_keys=True).encode()
    return box.seal(secret, _PURPOSE, plain).decode("ascii")


def unseal(secret: str, token: str | None) -> dict[str, str]:
    """Decrypt what :func:`seal` made; ``{}`` for nothing stored."""
    if not token:
        return {}
    try:
        data = json.loads(box.unseal(secret, _PURPOSE, token.encode("ascii")))
    except (box.SealBroken, ValueError):
        raise FerryError(
            "stored system credentials cannot be decrypted: FERRY_SECRET_KEY is not the one they "
            "were stored with; set it back, or add the system again with its credentials",
            code="credentials_unreadable",
            status=500,
        ) from None
    return {str(k): str(v) for k, v in data.items()}
