"""/api/v1 consent records for consent-share requests (a tenant's key)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ferry.api.deps import Caller, check_tenant
from ferry.api.errors import ERROR_RESPONSES
from ferry.services import consents

router = APIRouter(tags=["consents"], responses=ERROR_RESPONSES)


class ConsentCreate(BaseModel):
    subject_email: str = Field(max_length=320)
    recipient: str = Field(max_length=100)
    purpose: str = Field(max_length=2000)
    categories: list[str] = Field(min_length=1, max_length=50)
    expires_at: datetime
    method: str = Field(max_length=30, description=", ".join(consents.METHODS))
    proof: str = Field(max_length=10000, description="reference to the record of consent")


class ConsentOut(BaseModel):
    id: str
    tenant: str
    recipient: str
    purpose: str
    categories: list[str]
    granted_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    method: str
    active: bool


def _out(view: consents.ConsentView) -> ConsentOut:
    return ConsentOut.model_validate(view, from_attributes=True)


@router.post("/tenants/{slug}/consents", status_code=201, response_model=ConsentOut)
def grant(slug: str, body: ConsentCreate, who: Caller) -> ConsentOut:
    """Record a consent the person gave (the person is mailed a link to see or revoke it)."""
    check_tenant(who, slug)
    return _out(
        consents.grant(
            slug,
            body.subject_email,
            body.recipient,
            body.purpose,
            body.categories,
            body.expires_at,
            body.method,
            body.proof,
            who.actor,
        )
    )


@router.get("/consents/{consent_id}", response_model=ConsentOut)
def show(consent_id: str, who: Caller) -> ConsentOut:
    return _out(consents.show(consent_id, who.tenant_id))


@router.post("/consents/{consent_id}/revoke", response_model=ConsentOut)
def revoke(consent_id: str, who: Caller) -> ConsentOut:
    """Revoke the consent; shares under it that are not yet delivered are withdrawn."""
    return _out(consents.revoke(consent_id, who.actor, who.tenant_id))


@router.get("/consents/{consent_id}/receipt")
def receipt(consent_id: str, who: Caller) -> dict[str, Any]:
    """The consent receipt (JSON)."""
    return consents.receipt(consent_id, who.tenant_id)


@router.post("/requests/{request_id}/consent/{consent_id}", status_code=204)
def attach(request_id: str, consent_id: str, who: Caller) -> None:
    """Attach the consent a consent-share request runs under (before collection)."""
    consents.attach_to_request(request_id, consent_id, who.actor, who.tenant_id)
