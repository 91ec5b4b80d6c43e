"""Tenant and API key use-cases."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError

from ferry.crypto.tokens import api_key_digest, api_key_prefix, new_api_key, same
from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.errors import Conflict, FerryError, InvalidInput
from ferry.jurisdictions import rule_for
from ferry.services.audit import record
from ferry.services.views import TenantView
from ferry.store import apikeys, tenants
from ferry.store.tables import ApiKey, Tenant

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def create_tenant(
    slug: str,
    name: str,
    jurisdictions: list[str] | None = None,
    *,
    review_required: bool = False,
    agent_email: str | None = None,
    actor: str = "admin",
) -> TenantView:
    if not _SLUG.match(slug):
        raise InvalidInput(f"tenant slug {slug!r} must be lower-case letters, digits and dashes")
    if not name.strip():
        raise InvalidInput("tenant name is empty")
    codes = [rule_for(code).code for code in (jurisdictions or ["EU-DE"])]
    with unit_of_work() as session:
        if tenants.find_by_slug(session, slug):
            raise Conflict(f"tenant {slug!r} already exists", code="tenant_exists")
        tenant = Tenant(
            slug=slug,
            name=name.strip(),
            jurisdictions=codes,
            review_required=review_required,
            agent_email=agent_email,
        )
        session.add(tenant)
        try:
            session.flush()
        except IntegrityError:
            raise Conflict(f"tenant {slug!r} already exists", code="tenant_exists") from None
        record(
            session, tenant.id, actor, "tenant.created", data={"name": name, "jurisdictions": codes}
        )
        return TenantView.of(tenant)


def list_tenants() -> list[TenantView]:
    with unit_of_work() as session:
        return [TenantView.of(t) for t in tenants.list_all(session)]


def get_tenant(slug: str) -> TenantView:
    with unit_of_work() as session:
        return TenantView.of(tenants.get_by_slug(session, slug))


@dataclass(frozen=True)
class Principal:
    """Who is calling the API: a tenant's key, or a BPO admin key (tenant is None)."""

    name: str
    tenant_id: int | None
    tenant_slug: str | None
    role: str = "agent"

    @property
    def is_admin(self) -> bool:
        return self.tenant_id is None

    @property
    def actor(self) -> str:
        return f"apikey:{self.name}"


ROLES = ("agent", "supervisor")


def create_api_key(
    tenant_slug: str | None, name: str, actor: str = "admin", role: str = "agent"
) -> str:
    """Make a key and return its plaintext, which is shown once and stored only as a hash."""
    if not name.strip():
        raise InvalidInput("an API key needs a name (who or what uses it)")
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    key = new_api_key()
    with unit_of_work() as session:
        tenant_id = tenants.get_by_slug(session, tenant_slug).id if tenant_slug else None
        session.add(
            ApiKey(
                tenant_id=tenant_id,
                name=name.strip(),
                prefix=key.prefix,
                key_hash=key.digest,
                role=role,
            )
        )
        session.flush()
        if tenant_id is not None:
            record(session, tenant_id, actor, "apikey.created", data={"name": name, "role": role})
    return key.plaintext


class Unauthorized(FerryError):
    code = "unauthorized"
    status = 401


def authenticate(plaintext: str) -> Principal:
    prefix = api_key_prefix(plaintext)
    with unit_of_work() as session:
        key = apikeys.by_prefix(session, prefix) if prefix else None
        digest = api_key_digest(plaintext)
        if key is None or not same(key.key_hash, digest):
            raise Unauthorized("the API key is not valid; make one with `ferry apikey create`")
        slug = None
        if key.tenant_id is not None:
            slug = session.get_one(Tenant, key.tenant_id).slug
        return Principal(key.name, key.tenant_id, slug, "admin" if slug is None else key.role)


def revoke_api_key(prefix: str) -> None:
    with unit_of_work() as session:
        key = apikeys.by_prefix(session, prefix)
        if key is None:
            raise InvalidInput(f"no active API key with prefix {prefix!r}")
        key.revoked_at = utcnow()
