"""Public signing keys: anyone may fetch them to check a package's signature."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from ferry.api.errors import ERROR_RESPONSES
from ferry.services import keys

router = APIRouter(tags=["keys"], responses=ERROR_RESPONSES)
well_known = APIRouter(tags=["keys"])


class SigningKeyOut(BaseModel):
    tenant: str
    key_id: str
    algorithm: str
    public_key: str  # base64 of the raw 32-byte Ed25519 key
    pem: str
    created_at: datetime
    retired_at: datetime | None


class SigningKeysOut(BaseModel):
    keys: list[SigningKeyOut]


def _out(found: list[keys.PublicKey]) -> SigningKeysOut:
    return SigningKeysOut(keys=[SigningKeyOut(**k.__dict__) for k in found])


@router.get("/tenants/{slug}/signing-key", response_model=SigningKeysOut)
def signing_keys(slug: str) -> SigningKeysOut:
    """The keys that sign this company's packages (use with `ferry package verify --key`)."""
    return _out(keys.signing_keys(slug))


@well_known.get("/.well-known/ferry-signing-keys", response_model=SigningKeysOut)
def all_signing_keys() -> SigningKeysOut:
    """Every tenant's package-signing keys."""
    return _out(keys.all_signing_keys())
