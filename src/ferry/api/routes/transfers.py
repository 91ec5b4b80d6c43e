"""Direct transfer routes: pull links, the pull itself, and the tenant's HTTP-signature key."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel
from starlette.background import BackgroundTask

from ferry.api.deps import Caller
from ferry.api.errors import ERROR_RESPONSES
from ferry.services import delivery, device, transfer_keys, transfer_pull

router = APIRouter(tags=["transfers"], responses=ERROR_RESPONSES)


class PullLinkOut(BaseModel):
    url: str
    expires_at: datetime


@router.post("/requests/{request_id}/pull-link", response_model=PullLinkOut)
def pull_link(request_id: str, who: Caller) -> PullLinkOut:
    """A signed, expiring URL from which the request's HTTPS recipient fetches the package."""
    link = transfer_pull.pull_link(request_id, who.actor, who.tenant_id)
    return PullLinkOut(url=link.url, expires_at=link.expires_at)


@router.get("/transfers/{token}", response_class=FileResponse)
def pull(token: str) -> FileResponse:
    """The package, encrypted to the recipient's age key."""
    tmp = transfer_pull.temp_dir()
    found = transfer_pull.open_pull(token, Path(tmp.name))
    return FileResponse(
        found.path,
        media_type="application/vnd.ferry.package+age",
        filename=found.filename,
        headers={"X-Ferry-Package-SHA256": found.sha256, "Cache-Control": "no-store"},
        background=BackgroundTask(tmp.cleanup),
    )


@router.get("/tenants/{slug}/keys/http")
def http_signature_key(slug: str) -> dict[str, str]:
    """The tenant's Ed25519 public key that signs its HTTPS transfers (RFC 9421 ``keyid``)."""
    return transfer_keys.public_key(slug)


class DeliveryOut(BaseModel):
    channel: str
    recipient: str | None
    state: str
    attempts: int
    error: str | None
    receipt: dict[str, object]
    delivered_at: datetime | None


@router.post("/requests/{request_id}/deliver", response_model=DeliveryOut)
def deliver(request_id: str, who: Caller) -> DeliveryOut:
    """Send the ready package to the request's recipient now (retries; never sends twice)."""
    view = delivery.deliver(request_id, who.actor, who.tenant_id)
    return DeliveryOut.model_validate(view, from_attributes=True)


@router.get("/requests/{request_id}/deliveries", response_model=list[DeliveryOut])
def list_deliveries(request_id: str, who: Caller) -> list[DeliveryOut]:
    """Every delivery of the request with its receipt."""
    return [
        DeliveryOut.model_validate(v, from_attributes=True)
        for v in delivery.list_for(request_id, who.tenant_id)
    ]


@router.get("/requests/{request_id}/device.json")
def device_export(request_id: str, who: Caller) -> dict[str, object]:
    """A device request's settings, preferences and activity in the ferry-device/1 format."""
    return device.export(request_id, who.actor, who.tenant_id)
