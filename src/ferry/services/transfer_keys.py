"""The public half of a tenant's transfer-signing key, for receivers to verify our requests."""

from __future__ import annotations

from ferry.crypto import httpsig
from ferry.services import tenants
from ferry.settings import get_settings


def public_key(slug: str) -> dict[str, str]:
    tenants.get_tenant(slug)  # 404 for an unknown tenant
    settings = get_settings()
    key = httpsig.tenant_key(settings.var_dir, slug, settings.public_url)
    return {"keyid": key.key_id, "alg": "ed25519", "public_key_pem": key.public_pem()}
