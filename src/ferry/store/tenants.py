"""Tenant repository."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ferry.domain.errors import NotFound
from ferry.store.tables import Tenant

# Built once: making a statement (and its cache key) cost about as much as running it.
_BY_SLUG = select(Tenant).where(Tenant.slug == bindparam("slug"))
_BY_SLUG_LOCKED = _BY_SLUG.with_for_update().execution_options(populate_existing=True)
_LOCK = (
    select(Tenant)
    .where(Tenant.id == bindparam("id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)


def get_by_slug(session: Session, slug: str, *, lock: bool = False) -> Tenant:
    """The tenant; ``lock``: its row locked for the transaction and re-read (a copy already in
    the session may be stale)."""
    query = _BY_SLUG_LOCKED if lock else _BY_SLUG
    tenant = session.scalars(query, {"slug": slug}).one_or_none()
    if tenant is None:
        raise NotFound(
            f"no tenant {slug!r}; list tenants with `ferry tenant list`", code="tenant_not_found"
        )
    return tenant


def find_by_slug(session: Session, slug: str) -> Tenant | None:
    return session.scalars(select(Tenant).where(Tenant.slug == slug)).one_or_none()


def lock(session: Session, tenant_id: int) -> Tenant:
    """Lock the tenant row and re-read it: a copy already in the session may be stale."""
    return session.scalars(_LOCK, {"id": tenant_id}).one()


def list_all(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.slug)))
