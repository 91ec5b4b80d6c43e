"""Push a ready package to the recipient a request names, with retries and a stored receipt.

Nothing is sent twice: each (request, package, recipient) has one delivery row keyed by an
idempotency key; a delivered row is answered from its receipt, a row being sent is refused, and the
key travels with the package so the far side can drop a repeat. Before anything leaves, the
recipient's country is checked against the request's jurisdiction (:mod:`transfers`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.db import unit_of_work
from ferry.delivery import registry
from ferry.delivery.base import Channel, DeliveryError, Receipt, Shipment
from ferry.domain.clock import utcnow
from ferry.domain.errors import Conflict, FerryError, NotFound
from ferry.domain.models import RequestState
from ferry.jurisdictions.transfers import Outcome
from ferry.services import consents, jobs, keys, notify, packaging, transfers
from ferry.services.audit import record
from ferry.services.lifecycle import move
from ferry.services.requests import load
from ferry.settings import get_settings
from ferry.store import deliveries, requests, txn
from ferry.store.tables import Delivery, Request, RequestRecipient, Tenant

_SENDING_STALE = timedelta(minutes=30)
Opener = Callable[[str, dict[str, Any]], Channel]


@dataclass(frozen=True)
class DeliveryView:
    channel: str
    recipient: str | None
    state: str
    attempts: int
    error: str | None
    receipt: dict[str, Any]
    delivered_at: datetime | None
    idempotency_key: str


@dataclass
class Retry:
    attempts: int = field(default_factory=lambda: get_settings().delivery_attempts)
    backoff_s: float = field(default_factory=lambda: get_settings().delivery_backoff_s)
    sleep: Callable[[float], None] = time.sleep

    def wait(self, attempt: int) -> None:
        """Exponential backoff: base, 4x base, 16x base … capped at 15 minutes."""
        self.sleep(min(self.backoff_s * 4 ** (attempt - 1), 900.0))


def idempotency_key(request_id: str, package_id: int, recipient_id: int) -> str:
    text = f"{request_id}:{package_id}:{recipient_id}"
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def deliver(
    request_id: str,
    actor: str = "system",
    tenant_id: int | None = None,
    retry: Retry | None = None,
    opener: Opener = registry.open_channel,
) -> DeliveryView:
    """Send the request's package to its recipient (retrying), or answer the earlier receipt."""
    retry = retry or Retry()
    key, shipment, channel_name, config = _claim(request_id, actor, tenant_id)
    if shipment is None:
        return _view_of(key)
    try:
        return _send(key, shipment, channel_name, config, actor, retry, opener)
    finally:
        shipment.path.unlink(missing_ok=True)  # the plain copy made for this send


def _send(
    key: str,
    shipment: Shipment,
    channel_name: str,
    config: dict[str, Any],
    actor: str,
    retry: Retry,
    opener: Opener,
) -> DeliveryView:
    try:
        channel = opener(channel_name, config)
    except FerryError as exc:  # e.g. the key file went missing: a clear failure, not a stuck row
        _attempt_failed(key, actor, 1, _final(exc.message, exc.code), True)
        return _view_of(key)
    for attempt in range(1, retry.attempts + 1):
        try:
            receipt = channel.deliver(shipment)
        except DeliveryError as exc:
            final = not exc.retryable or attempt == retry.attempts
            _attempt_failed(key, actor, attempt, exc, final)
            if final:
                break
            retry.wait(attempt)
            continue
        except Exception as exc:  # a channel bug must end in a recorded failure, never "sending"
            _attempt_failed(key, actor, attempt, _final(f"{type(exc).__name__}: {exc}"), True)
            break
        _succeeded(key, actor, attempt, receipt)
        break
    return _view_of(key)


def _final(message: str, code: str = "delivery_error") -> DeliveryError:
    return DeliveryError(message, code=code, retryable=False)


def _claim(
    request_id: str, actor: str, tenant_id: int | None
) -> tuple[str, Shipment | None, str, dict[str, Any]]:
    """Find or make the delivery row and mark it ``sending``; check everything before that."""
    with unit_of_work() as session:
        req, tenant = load(session, request_id, tenant_id)
        recipient = deliveries.recipient_for_request(session, req.id)
        if recipient is None:
            raise FerryError(
                "this request names no recipient; the person downloads it from the portal",
                code="no_recipient",
                status=409,
            )
        package = requests.latest_package(session, req.id)
        if package is None or not Path(package.path).is_file():
            raise NotFound("this request has no package to send; run it first", code="no_package")
        key = idempotency_key(req.id, package.id, recipient.id)
        row = deliveries.by_key(session, key, lock=True)
        if row is not None and row.state == "delivered":
            return key, None, recipient.channel, recipient.config
        if req.state not in (RequestState.READY, RequestState.DELIVERED):
            raise FerryError(
                f"the request is {req.state}; only a ready (approved) package is sent",
                code="package_not_ready",
                status=409,
            )
        if row is not None and row.state == "sending" and _fresh(row):
            raise Conflict("this package is being sent right now", code="delivery_in_progress")
        consents.check_request(session, req)
        check_transfer(session, req, tenant, recipient.country, recipient.name, actor)
        if row is None:
            row = Delivery(
                tenant_id=tenant.id,
                request_id=req.id,
                package_id=package.id,
                recipient_id=recipient.id,
                channel=recipient.channel,
                idempotency_key=key,
                attempts=0,
                receipt={},
            )
            session.add(row)
        row.state, row.created_at = "sending", utcnow()
        record(
            session,
            tenant.id,
            actor,
            "delivery.started",
            req.id,
            {"channel": recipient.channel, "recipient": recipient.name, "sha256": package.sha256},
        )
        plain = get_settings().var_dir / "tmp" / "deliveries" / f"{key}.zip"
        signs = recipient.channel == "https"  # HTTPS pushes are signed (RFC 9421)
        shipment = Shipment(
            request_id=req.id,
            tenant=tenant.slug,
            path=packaging.plain_copy(session, package, tenant.id, plain),
            sha256=package.sha256,
            size=package.size,
            filename=f"{tenant.slug}-{req.id}.zip",
            idempotency_key=key,
            signing_key=keys.http_signing_key(session, tenant) if signs else None,
        )
        return key, shipment, recipient.channel, dict(recipient.config)


def _fresh(row: Delivery) -> bool:
    return row.created_at > utcnow() - _SENDING_STALE


def check_transfer(
    session: Session, req: Request, tenant: Tenant, country: str | None, name: str, actor: str
) -> None:
    """The jurisdiction's transfer rule for the recipient's country (``services.transfers``):
    allowed, or referred to a supervisor and approved (``transfer-approve``), or refused."""
    if not country:
        _refuse(
            session,
            req,
            tenant,
            name,
            actor,
            "the recipient has no country on record; set it (--country) before sending",
            "transfer_refused",
        )
    assert country is not None
    found = transfers.check_in(session, req, country, None, actor)
    if found.outcome == Outcome.ALLOWED or (
        found.outcome == Outcome.SUPERVISOR and transfers.approved(session, req, country)
    ):
        return
    if found.outcome == Outcome.SUPERVISOR:
        _refuse(
            session,
            req,
            tenant,
            name,
            actor,
            f"{found.basis}; a supervisor must approve it (ferry request transfer-approve)",
            "transfer_needs_supervisor",
        )
    _refuse(session, req, tenant, name, actor, found.basis, "transfer_refused")


def _refuse(
    session: Session, req: Request, tenant: Tenant, name: str, actor: str, why: str, code: str
) -> None:
    record(session, tenant.id, actor, "transfer.refused", req.id, {"recipient": name, "why": why})
    session.commit()  # the refusal stays in the audit trail
    raise FerryError(f"transfer to {name} refused: {why}", code=code, status=409)


def _attempt_failed(key: str, actor: str, attempt: int, exc: DeliveryError, final: bool) -> None:
    with unit_of_work() as session:
        row = deliveries.by_key(session, key, lock=True)
        assert row is not None
        row.attempts += 1
        row.error = exc.message[:2000]
        if final:
            row.state = "failed"
        record(
            session,
            row.tenant_id,
            actor,
            "delivery.failed" if final else "delivery.retrying",
            row.request_id,
            {"attempt": attempt, "code": exc.code, "error": exc.message[:300]},
        )
        if final:
            _alert_agents(session, row, exc)


def _alert_agents(session: Session, row: Delivery, exc: DeliveryError) -> None:
    """Tell the tenant's privacy team that a package did not go out (the request stays ready)."""
    tenant = session.get_one(Tenant, row.tenant_id)
    if not tenant.agent_email:
        return
    req, _ = load(session, row.request_id, row.tenant_id)
    notify.send(
        session,
        req,
        tenant.agent_email,
        f"Delivery failed: request {req.id}",
        f"The package of request {req.id} could not be sent by {row.channel} after "
        f"{row.attempts} attempt(s): {exc.message}\n\nFix the cause, then run "
        f"`ferry request deliver {req.id}`.\n",
        "agent_alert",
    )


def _succeeded(key: str, actor: str, attempt: int, receipt: Receipt) -> None:
    with unit_of_work() as session:
        row = deliveries.by_key(session, key, lock=True)
        assert row is not None
        row.attempts += 1
        row.state, row.error = "delivered", None
        row.receipt, row.delivered_at = receipt.as_dict(), utcnow()
        req, _ = load(session, row.request_id, row.tenant_id)
        record(
            session,
            row.tenant_id,
            actor,
            "delivery.completed",
            req.id,
            {"attempt": attempt, "receipt": receipt.as_dict()},
        )
        if req.state == RequestState.READY:
            recipient = deliveries.recipient_by_id(session, row.recipient_id)
            name = recipient.name if recipient else row.channel
            move(
                session, req, RequestState.DELIVERED, actor, {"via": row.channel, "recipient": name}
            )


def _view_of(key: str) -> DeliveryView:
    with unit_of_work() as session:
        row = deliveries.by_key(session, key)
        assert row is not None
        return view(session, row)


def view(session: Session, row: Delivery) -> DeliveryView:
    recipient = deliveries.recipient_by_id(session, row.recipient_id)
    return DeliveryView(
        row.channel,
        recipient.name if recipient else None,
        row.state,
        row.attempts,
        row.error,
        dict(row.receipt),
        row.delivered_at,
        row.idempotency_key,
    )


def list_for(request_id: str, tenant_id: int | None = None) -> list[DeliveryView]:
    with unit_of_work() as session:
        req, _ = load(session, request_id, tenant_id)
        return [view(session, d) for d in deliveries.for_request(session, req.id)]


def schedule_after_commit(session: Session, request_id: str) -> None:
    """Once this transaction commits, send the package in the background (job queue)."""
    txn.after_commit(session, lambda: jobs.enqueue("deliver", request_id))


def deliver_quietly(request_id: str) -> DeliveryView | None:
    try:
        return deliver(request_id, "system")
    except FerryError:
        return None  # the refusal or failure is in the audit trail and on the delivery row


def has_recipient(session: Session, request_id: str) -> bool:
    held = txn.memo(session)
    if ("recipient.link", request_id) in held:  # read beforehand with the rest of a batch
        return bool(held[("recipient.link", request_id)])
    return deliveries.recipient_for_request(session, request_id) is not None


def prefetch_recipients(session: Session, request_ids: list[str]) -> None:
    """Whether each of a batch of requests names a recipient, read at once for the rest of
    the transaction (a batch attaches no recipients)."""
    held = txn.memo(session)
    named: set[str] = set()
    for chunk in txn.id_chunks(request_ids):
        query = select(RequestRecipient.request_id).where(RequestRecipient.request_id.in_(chunk))
        named.update(session.scalars(query))
    for request_id in request_ids:
        held[("recipient.link", request_id)] = request_id in named
