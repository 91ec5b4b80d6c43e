"""Tenant key repository (signing and package keys)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.store.tables import TenantKey


def active(session: Session, tenant_id: int, purpose: str) -> TenantKey | None:
    query = (
        select(TenantKey)
        .where(
            TenantKey.tenant_id == tenant_id,
            TenantKey.purpose == purpose,
            TenantKey.retired_at.is_(None),
        )
        .order_by(TenantKey.id.desc())
    )
    return session.scalars(query).first()


def by_id(session: Session, tenant_id: int, purpose: str, key_id: str) -> TenantKey | None:
    query = select(TenantKey).where(
        TenantKey.tenant_id == tenant_id,
        TenantKey.purpose == purpose,
        TenantKey.key_id == key_id,
    )
    return session.scalars(query).one_or_none()


def all_for(session: Session, tenant_id: int, purpose: str) -> list[TenantKey]:
    query = (
        select(TenantKey)
        .where(TenantKey.tenant_id == tenant_id, TenantKey.purpose == purpose)
        .order_by(TenantKey.id)
    )
    return list(session.scalars(query))
