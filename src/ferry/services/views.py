"""What services hand back to entry points: plain, detached values (no ORM objects)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from ferry.store.tables import Package, Request, Tenant


@dataclass(frozen=True)
class TenantView:
    slug: str
    name: str
    jurisdictions: list[str]
    review_required: bool
    created_at: datetime

    @classmethod
    def of(cls, t: Tenant) -> TenantView:
        return cls(t.slug, t.name, list(t.jurisdictions), t.review_required, t.created_at)


@dataclass(frozen=True)
class PackageView:
    sha256: str
    size: int
    files: list[dict[str, Any]]
    created_at: datetime
    downloads: int
    signed_by: str | None = None
    redactions: dict[str, int] | None = None

    @classmethod
    def of(cls, p: Package) -> PackageView:
        redactions = {str(k): int(v) for k, v in (p.redactions or {}).items()}
        return cls(
            p.sha256, p.size, list(p.files), p.created_at, p.downloads, p.signed_by, redactions
        )


@dataclass(frozen=True)
class RequestView:
    id: str
    tenant: str
    kind: str
    state: str
    jurisdiction: str
    received_at: datetime
    due_date: date
    scope: dict[str, Any]
    channel: str
    identities: list[dict[str, str]]
    verification_locked: bool
    verified_method: str | None
    failure: str | None
    package: PackageView | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    clock: dict[str, Any] | None = None
    waiting_for: list[dict[str, Any]] = field(default_factory=list)
    """Manual systems' upload tasks still open: system, owner, state, due_date, overdue."""

    @classmethod
    def of(cls, r: Request, tenant_slug: str, package: Package | None = None) -> RequestView:
        return cls(
            id=r.id,
            tenant=tenant_slug,
            kind=r.kind,
            state=r.state,
            jurisdiction=r.jurisdiction,
            received_at=r.received_at,
            due_date=r.due_date,
            scope=dict(r.scope),
            channel=r.channel,
            identities=[{"type": i.type, "value": i.value} for i in r.identities],
            verification_locked=r.verification_locked,
            verified_method=r.verified_method,
            failure=r.failure,
            package=PackageView.of(package) if package else None,
        )


@dataclass(frozen=True)
class StatusView:
    """What anyone holding the request id may see: no personal data."""

    id: str
    tenant: str
    state: str
    due_date: date
    verification_locked: bool
    download_ready: bool
