"""Client systems registered for a tenant."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.domain.errors import NotFound
from ferry.store.tables import System


def for_tenant(session: Session, tenant_id: int) -> list[System]:
    query = select(System).where(System.tenant_id == tenant_id).order_by(System.name)
    return list(session.scalars(query))


def find(session: Session, tenant_id: int, name: str) -> System | None:
    query = select(System).where(System.tenant_id == tenant_id, System.name == name)
    return session.scalars(query).one_or_none()


def get(session: Session, tenant_id: int, name: str) -> System:
    system = find(session, tenant_id, name)
    if system is None:
        raise NotFound(
            f"no system {name!r} for this tenant; add one with `ferry system add`",
            code="system_not_found",
        )
    return system
