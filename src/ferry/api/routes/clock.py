"""/api/v1 clock routes: deadlines, extend, pause, resume, reject, SLA, transfers, overdue."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Query

from ferry.api.deps import Admin, Caller, check_tenant
from ferry.api.errors import ERROR_RESPONSES
from ferry.api.schemas.clock import (
    AcknowledgeIn,
    ClockOut,
    DeadlineOut,
    ExtendIn,
    PauseIn,
    RejectIn,
    SlaIn,
    SlaOut,
    TickOut,
    TransferApproveIn,
    TransferIn,
    TransferOut,
)
from ferry.api.schemas.requests import RequestRead
from ferry.services import clock, extension, rejection, sla, transfers

router = APIRouter(tags=["clock"], responses=ERROR_RESPONSES)


@router.get("/deadlines", response_model=DeadlineOut)
def deadlines(
    jurisdiction: str = Query(max_length=20, examples=["EU-DE"]),
    received: str = Query(max_length=40, description="date, or date-time local to tz"),
    tz: str = Query("UTC", max_length=64),
) -> DeadlineOut:
    """The due date, the latest extension and the acknowledgement date for a receipt time."""
    return DeadlineOut(**asdict(clock.deadline(jurisdiction, received, tz)))


@router.get("/requests/{request_id}/clock", response_model=ClockOut)
def show_clock(request_id: str, who: Caller) -> ClockOut:
    return ClockOut(**clock.show(request_id, who.tenant_id))


@router.post("/requests/{request_id}/extend", response_model=ClockOut)
def extend(request_id: str, body: ExtendIn, who: Caller) -> ClockOut:
    view = extension.extend(
        request_id,
        who.actor,
        body.reason,
        until=body.until,
        notified=body.notified,
        tenant_id=who.tenant_id,
    )
    return ClockOut(**view)


@router.post("/requests/{request_id}/acknowledge", response_model=ClockOut)
def acknowledge(request_id: str, body: AcknowledgeIn, who: Caller) -> ClockOut:
    return ClockOut(**clock.acknowledge(request_id, who.actor, body.how, who.tenant_id))


@router.post("/requests/{request_id}/pause", response_model=ClockOut)
def pause(request_id: str, body: PauseIn, who: Caller) -> ClockOut:
    return ClockOut(**clock.pause(request_id, who.actor, body.reason, body.note, who.tenant_id))


@router.post("/requests/{request_id}/resume", response_model=ClockOut)
def resume(request_id: str, who: Caller) -> ClockOut:
    return ClockOut(**clock.resume(request_id, who.actor, who.tenant_id))


@router.post("/requests/{request_id}/reject", response_model=ClockOut)
def reject(request_id: str, body: RejectIn, who: Caller) -> ClockOut:
    view = rejection.reject(
        request_id, who.actor, body.reason, ground=body.ground, tenant_id=who.tenant_id
    )
    return ClockOut(**view)


@router.post("/requests/{request_id}/transfer-check", response_model=TransferOut)
def transfer_check(request_id: str, body: TransferIn, who: Caller) -> TransferOut:
    found = transfers.check(request_id, body.country, body.safeguard, who.actor, who.tenant_id)
    return TransferOut(**asdict(found))


@router.post("/requests/{request_id}/transfer-approve", response_model=TransferOut)
def transfer_approve(request_id: str, body: TransferApproveIn, who: Caller) -> TransferOut:
    found = transfers.approve(request_id, body.country, who.actor, body.basis, who.tenant_id)
    return TransferOut(**asdict(found))


@router.get("/tenants/{slug}/sla", response_model=SlaOut)
def get_sla(slug: str, who: Caller) -> SlaOut:
    check_tenant(who, slug)
    return SlaOut(**asdict(sla.get_settings(slug)))


@router.put("/tenants/{slug}/sla", response_model=SlaOut)
def put_sla(slug: str, body: SlaIn, who: Caller) -> SlaOut:
    check_tenant(who, slug)
    settings = sla.SlaSettings(slug, **body.model_dump())
    return SlaOut(**asdict(sla.set_settings(settings, who.actor)))


@router.get("/tenants/{slug}/due", response_model=list[RequestRead])
def due(
    slug: str, who: Caller, within: int = Query(7, ge=0, le=3660, description="days")
) -> list[RequestRead]:
    """Open requests due within ``within`` days (overdue ones first)."""
    check_tenant(who, slug)
    return [RequestRead.of(v) for v in sla.due_within(slug, within)]


@router.post("/sla/tick", response_model=TickOut)
def tick(who: Admin) -> TickOut:
    """Run the scheduler's reminder pass now (BPO admin only; cron can call this)."""
    return TickOut(**sla.as_dict(sla.run_due_reminders()))
