"""Package keys and review: public signing keys (open to anyone, to check a package's
signature) and the redaction report (for the tenant's reviewers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from ferry.api.deps import Caller
from ferry.api.errors import ERROR_RESPONSES
from ferry.services import keys, packages

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


class RedactionsOut(BaseModel):
    counts: dict[str, int]
    findings: list[dict[str, Any]]
    engine: str | None = None  # what looked for names (None: nothing found, nothing to note)
    notes: list[str] = []  # fallbacks and failures of redaction


@router.get("/requests/{request_id}/redactions", response_model=RedactionsOut)
def redactions(request_id: str, who: Caller) -> RedactionsOut:
    """For the reviewer: what was redacted from the package, with its context (audited)."""
    report = packages.redactions(request_id, who.actor, who.tenant_id)
    return RedactionsOut(
        counts=report.counts, findings=report.findings, engine=report.engine, notes=report.notes
    )
