"""Secrets Ferry hands out: one-time codes, API keys and signed, expiring tokens."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ferry.domain.errors import FerryError

API_KEY_PREFIX = "fk_"


def new_code(digits: int = 6) -> str:
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def keyed_hash(secret: str, *parts: str) -> str:
    """HMAC-SHA256 of the parts: a stolen table of hashes cannot be brute-forced offline."""
    return hmac.new(secret.encode(), "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True)
class NewApiKey:
    prefix: str
    plaintext: str
    digest: str


def new_api_key() -> NewApiKey:
    prefix = secrets.token_hex(6)
    plaintext = f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiKey(prefix, plaintext, api_key_digest(plaintext))


def api_key_digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def api_key_prefix(plaintext: str) -> str | None:
    if not plaintext.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, _ = plaintext[len(API_KEY_PREFIX) :].partition("_")
    return prefix if sep and prefix else None


class TokenExpired(FerryError):
    code = "link_expired"
    status = 410


class TokenInvalid(FerryError):
    code = "invalid_token"
    status = 403


def sign(secret: str, purpose: str, payload: dict[str, Any]) -> str:
    return str(URLSafeTimedSerializer(secret, salt=purpose).dumps(payload))


def unsign(secret: str, purpose: str, token: str, max_age_s: int) -> dict[str, Any]:
    """The payload of a token made by :func:`sign` for ``purpose``, if untouched and fresh."""
    serializer = URLSafeTimedSerializer(secret, salt=purpose)
    try:
        payload = serializer.loads(token, max_age=max_age_s)
    except SignatureExpired:
        raise TokenExpired("this link has expired; ask for a new one") from None
    except BadSignature:
        raise TokenInvalid("this link is not valid: it was changed or cut short") from None
    if not isinstance(payload, dict):
        raise TokenInvalid("this link is not valid")
    return payload
