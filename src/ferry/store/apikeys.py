"""API keys: stored as SHA-256 of a high-entropy secret, found by their public prefix."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ferry.store.tables import ApiKey


def by_prefix(session: Session, prefix: str) -> ApiKey | None:
    query = select(ApiKey).where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
    return session.scalars(query).one_or_none()
