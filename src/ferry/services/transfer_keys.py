"""The public half of a tenant's transfer-signing key, for receivers to verify our requests."""

from __future__ import annotations

from ferry.services import keys, tenants


def public_key(slug: str) -> dict[str, str]:
    tenants.get_tenant(slug)  # 404 for an unknown tenant
    key = keys.http_public_key(slug)
    return {"keyid": key.key_id, "alg": "ed25519", "public_key_pem": key.public_pem()}
