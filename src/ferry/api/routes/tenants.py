"""/api/v1/tenants"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from ferry.api.deps import Admin, Caller, check_tenant
from ferry.api.errors import ERROR_RESPONSES
from ferry.api.schemas.tenants import TenantCreate, TenantRead
from ferry.services import tenants

router = APIRouter(prefix="/tenants", tags=["tenants"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, response_model=TenantRead)
def create_tenant(body: TenantCreate, who: Admin) -> TenantRead:
    view = tenants.create_tenant(
        body.slug,
        body.name,
        body.jurisdictions,
        review_required=body.review_required,
        agent_email=body.agent_email,
        actor=who.actor,
    )
    return TenantRead(**asdict(view))


@router.get("/{slug}", response_model=TenantRead)
def get_tenant(slug: str, who: Caller) -> TenantRead:
    check_tenant(who, slug)
    return TenantRead(**asdict(tenants.get_tenant(slug)))
