"""Retention: packages are removed once the tenant's retention period is over; each purge is
recorded (a ``package_purges`` row and an audit event) and a delivered request is closed. The
system owners' sealed uploads for the request go with its last package (``manual.uploads.purged``):
they were kept only to rebuild it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.models import RequestState
from ferry.services import packaging, recipients, uploads
from ferry.services.audit import record
from ferry.services.lifecycle import move
from ferry.store import tenants
from ferry.store.tables import Package, PackagePurge, Request


@dataclass(frozen=True)
class Purged:
    tenant: str
    request_id: str
    sha256: str
    created_at: datetime
    file_existed: bool


def purge_expired(tenant_slug: str | None = None, now: datetime | None = None) -> list[Purged]:
    """Purge every package older than its tenant's retention period (the scheduler calls this)."""
    now = now or utcnow()
    done: list[Purged] = []
    with unit_of_work() as session:
        chosen = (
            [tenants.get_by_slug(session, tenant_slug)]
            if tenant_slug
            else tenants.list_all(session)
        )
        plan = [(t.id, t.slug, recipients.policy(session, t.id).retention_days) for t in chosen]
    for tenant_id, slug, days in plan:
        done.extend(_purge_tenant(tenant_id, slug, now - timedelta(days=days), days))
    return done


def _purge_tenant(tenant_id: int, slug: str, cutoff: datetime, days: int) -> list[Purged]:
    done = []
    with unit_of_work() as session:
        query = (
            select(Package, Request)
            .join(Request, Request.id == Package.request_id)
            .outerjoin(PackagePurge, PackagePurge.package_id == Package.id)
            .where(
                Request.tenant_id == tenant_id,
                Package.created_at < cutoff,
                PackagePurge.package_id.is_(None),
            )
        )
        for package, req in session.execute(query).all():
            newest = session.scalar(
                select(func.max(Package.id)).where(Package.request_id == package.request_id)
            )
            # an older package (rebuilt since) shares its path: the file is the newer one's
            existed = packaging.remove_files(package) if newest == package.id else False
            reason = f"retention of {days} days is over"
            session.add(PackagePurge(package_id=package.id, reason=reason))
            record(
                session,
                tenant_id,
                "system",
                "package.purged",
                req.id,
                {"sha256": package.sha256, "reason": reason, "file_existed": existed},
            )
            if req.state == RequestState.DELIVERED:
                move(session, req, RequestState.CLOSED, "system", {"reason": reason})
            done.append(Purged(slug, req.id, package.sha256, package.created_at, existed))
        session.flush()
        for request_id in dict.fromkeys(p.request_id for p in done):
            req = session.get_one(Request, request_id)
            if _all_purged(session, request_id):
                uploads.purge_uploads(
                    session, req, f"the package's retention of {days} days is over"
                )
    return done


def _all_purged(session: Session, request_id: str) -> bool:
    """No package of the request is left (a newer rebuild keeps the uploads it came from)."""
    query = (
        select(Package.id)
        .outerjoin(PackagePurge, PackagePurge.package_id == Package.id)
        .where(Package.request_id == request_id, PackagePurge.package_id.is_(None))
    )
    return session.scalar(query.limit(1)) is None
