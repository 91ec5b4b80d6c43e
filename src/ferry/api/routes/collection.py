"""/api/v1 collection routes: the gap report, partial delivery, bulk runs."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter
from pydantic import BaseModel, Field

from ferry.api.deps import Caller, check_tenant
from ferry.api.errors import ERROR_RESPONSES
from ferry.api.schemas.requests import RequestRead
from ferry.services import bulk, gather, requests

router = APIRouter(tags=["collection"], responses=ERROR_RESPONSES)


class GapOut(BaseModel):
    system: str
    status: str = Field(description="done, failed or skipped")
    error: str | None
    attempts: int
    rows: int
    warnings: list[str]


class PartialIn(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class BulkOut(BaseModel):
    completed: list[str]
    failed: dict[str, str]
    waiting: list[str] = Field(
        default_factory=list, description="still collecting: waiting for a manual upload"
    )


@router.get("/requests/{request_id}/collection", response_model=list[GapOut])
def collection_report(request_id: str, who: Caller) -> list[GapOut]:
    """How each system went in the last collection of this request (the gap report)."""
    requests.show(request_id, who.tenant_id, with_events=False)  # 404 / tenant check
    return [GapOut(**asdict(g)) for g in gather.show_report(request_id)]


@router.post("/requests/{request_id}/deliver-partial", response_model=RequestRead)
def deliver_partial(request_id: str, body: PartialIn, who: Caller) -> RequestRead:
    """Package what was collected, with the missing systems stated in the package."""
    return RequestRead.of(bulk.deliver_partial(request_id, who.actor, body.reason, who.tenant_id))


@router.post("/tenants/{slug}/requests/run-all", response_model=BulkOut)
def run_all(slug: str, who: Caller) -> BulkOut:
    """Collect every verified request of the tenant together (bulk mode)."""
    check_tenant(who, slug)
    result = bulk.run_all(slug, who.actor)
    return BulkOut(completed=result.completed, failed=result.failed, waiting=result.waiting)
