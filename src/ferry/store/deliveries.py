"""Recipients, deliveries and delivery settings. Every lookup names the tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.domain.errors import NotFound
from ferry.store.tables import Delivery, DeliverySettings, Recipient, RequestRecipient


def recipient_by_name(session: Session, tenant_id: int, name: str) -> Recipient:
    found = session.scalars(
        select(Recipient).where(Recipient.tenant_id == tenant_id, Recipient.name == name)
    ).one_or_none()
    if found is None:
        raise NotFound(
            f"no recipient {name!r} for this tenant; add one with `ferry recipient add`",
            code="recipient_not_found",
        )
    return found


def recipients(session: Session, tenant_id: int) -> list[Recipient]:
    query = select(Recipient).where(Recipient.tenant_id == tenant_id).order_by(Recipient.name)
    return list(session.scalars(query))


def recipient_for_request(session: Session, request_id: str) -> Recipient | None:
    link = session.get(RequestRecipient, request_id)
    return session.get(Recipient, link.recipient_id) if link else None


def by_key(session: Session, key: str, *, lock: bool = False) -> Delivery | None:
    query = select(Delivery).where(Delivery.idempotency_key == key)
    if lock:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def for_request(session: Session, request_id: str) -> list[Delivery]:
    query = select(Delivery).where(Delivery.request_id == request_id).order_by(Delivery.id)
    return list(session.scalars(query))


def settings_for(session: Session, tenant_id: int) -> DeliverySettings | None:
    return session.get(DeliverySettings, tenant_id)


def recipient_by_id(session: Session, recipient_id: int | None) -> Recipient | None:
    return session.get(Recipient, recipient_id) if recipient_id is not None else None
