"""Recipients a tenant can send to, and the tenant's delivery policy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ferry.db import unit_of_work
from ferry.delivery import registry
from ferry.domain.errors import Conflict, InvalidInput
from ferry.services.audit import record
from ferry.settings import get_settings
from ferry.store import deliveries, tenants
from ferry.store.tables import DeliverySettings, Recipient, Request, RequestRecipient

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class RecipientView:
    name: str
    channel: str
    config: dict[str, Any]
    country: str | None
    created_at: datetime

    @classmethod
    def of(cls, r: Recipient) -> RecipientView:
        return cls(r.name, r.channel, dict(r.config), r.country, r.created_at)


def add(
    tenant_slug: str,
    name: str,
    channel: str,
    config: dict[str, Any],
    country: str | None = None,
    actor: str = "admin",
) -> RecipientView:
    """Register a recipient; the channel's configuration is validated before it is stored."""
    if not _NAME.match(name):
        raise InvalidInput(f"recipient name {name!r}: letters, digits, . _ - (up to 100)")
    code = country.strip().upper() if country else None
    if code is not None and not _COUNTRY.match(code):
        raise InvalidInput(f"country {country!r} must be a two-letter ISO code such as DE or US")
    parsed = registry.parse_config(channel, config).model_dump()
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        if any(r.name == name for r in deliveries.recipients(session, tenant.id)):
            raise Conflict(f"recipient {name!r} already exists", code="recipient_exists")
        row = Recipient(
            tenant_id=tenant.id, name=name, channel=channel, config=parsed, country=code
        )
        session.add(row)
        session.flush()
        record(
            session,
            tenant.id,
            actor,
            "recipient.added",
            data={"name": name, "channel": channel, "country": code, "endpoint": _endpoint(parsed)},
        )
        return RecipientView.of(row)


def _endpoint(config: dict[str, Any]) -> str:
    return str(config.get("url", ""))


def list_for(tenant_slug: str) -> list[RecipientView]:
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        return [RecipientView.of(r) for r in deliveries.recipients(session, tenant.id)]


@dataclass(frozen=True)
class Policy:
    link_ttl_hours: int
    max_downloads: int
    retention_days: int


def policy(session: Session, tenant_id: int) -> Policy:
    row = deliveries.settings_for(session, tenant_id)
    if row is None:
        return Policy(get_settings().download_ttl_hours, 10, 30)
    return Policy(row.link_ttl_hours, row.max_downloads, row.retention_days)


def get_policy(tenant_slug: str) -> Policy:
    with unit_of_work() as session:
        return policy(session, tenants.get_by_slug(session, tenant_slug).id)


def set_policy(
    tenant_slug: str,
    *,
    link_ttl_hours: int | None = None,
    max_downloads: int | None = None,
    retention_days: int | None = None,
    actor: str = "admin",
) -> Policy:
    for what, value in (
        ("link lifetime (hours)", link_ttl_hours),
        ("download limit", max_downloads),
        ("retention (days)", retention_days),
    ):
        if value is not None and not 1 <= value <= 3650 * 24:
            raise InvalidInput(f"{what} must be a positive number")
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        now = policy(session, tenant.id)
        row = session.get(DeliverySettings, tenant.id) or DeliverySettings(tenant_id=tenant.id)
        row.link_ttl_hours = link_ttl_hours or now.link_ttl_hours
        row.max_downloads = max_downloads or now.max_downloads
        row.retention_days = retention_days or now.retention_days
        session.add(row)
        session.flush()
        result = Policy(row.link_ttl_hours, row.max_downloads, row.retention_days)
        record(session, tenant.id, actor, "delivery.policy_set", data=result.__dict__)
        return result


def attach(session: Session, tenant_id: int, req: Request, name: str, actor: str) -> None:
    """Name the recipient of a request (a transfer); the recipient must be the tenant's own."""
    recipient = deliveries.recipient_by_name(session, tenant_id, name)
    session.add(RequestRecipient(request_id=req.id, recipient_id=recipient.id))
    record(
        session,
        tenant_id,
        actor,
        "request.recipient_named",
        req.id,
        {"recipient": recipient.name, "channel": recipient.channel, "country": recipient.country},
    )
