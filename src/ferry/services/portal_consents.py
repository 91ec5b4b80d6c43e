"""Consents the person gives and sees in the portal (signed in to the download centre)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from ferry.collect.datamap import load_datamap
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import InvalidInput
from ferry.services import consents, download_centre
from ferry.store import deliveries, systems, tenants
from ferry.store.tables import Consent

TERMS_MONTHS = (1, 3, 6, 12)


@dataclass(frozen=True)
class ConsentChoices:
    recipients: list[str]
    categories: list[str]
    terms_months: tuple[int, ...]


def choices(tenant_slug: str) -> ConsentChoices:
    """Who the person can share with and which kinds of data (two-level category keys)."""
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        names = [r.name for r in deliveries.recipients(session, tenant.id)]
        found: set[str] = set()
        for system in systems.for_tenant(session, tenant.id):
            for ds in load_datamap(system.datamap).datasets.values():
                found.update(".".join(c.split(".")[:2]) for c in ds.fields.values() if c)
    return ConsentChoices(names, sorted(c for c in found if c.startswith("user.")), TERMS_MONTHS)


@dataclass(frozen=True)
class PortalConsent:
    view: consents.ConsentView
    token: str


def mine(tenant_slug: str, token: str) -> list[PortalConsent]:
    email = download_centre.address(tenant_slug, token)
    with unit_of_work() as session:
        tenant = tenants.get_by_slug(session, tenant_slug)
        query = (
            select(Consent.id)
            .where(Consent.tenant_id == tenant.id, Consent.subject == email)
            .order_by(Consent.granted_at.desc())
        )
        ids = list(session.scalars(query))
    return [PortalConsent(consents.show(i), consents.person_token(i)) for i in ids]


def give(
    tenant_slug: str,
    token: str,
    recipient: str,
    purpose: str,
    categories: list[str],
    months: int,
) -> consents.ConsentView:
    email = download_centre.address(tenant_slug, token)
    offered = choices(tenant_slug)
    if recipient not in offered.recipients:
        raise InvalidInput("choose one of the partners listed")
    if not categories or any(c not in offered.categories for c in categories):
        raise InvalidInput("choose at least one kind of data from the list")
    if months not in TERMS_MONTHS:
        raise InvalidInput("choose how long the consent lasts from the list")
    expires = datetime.now(UTC) + timedelta(days=31 * months)
    session_ref = hashlib.sha256(token.encode()).hexdigest()[:16]
    proof = (
        f"given in the portal at {utcnow().isoformat()}Z after sign-in with a one-time code "
        f"sent to the address on record (portal session {session_ref})"
    )
    return consents.grant(
        tenant_slug, email, recipient, purpose, categories, expires, "portal", proof, "subject"
    )
