"""Collections whose run died.

A worker killed in the middle of a run (out of memory, a host restart) leaves its requests
``collecting`` with nobody working on them, and the sweep only picks up ``verified`` ones. Every
run renews a lease on the requests it collects (:mod:`ferry.services.leases`); the sweep fails
the requests still collecting whose lease ran out, with the reason, and mails the tenant's agent
one summary. The agent sees them in the queue: ``ferry request run ID`` collects one again, and
``ferry request run --all TENANT`` resumes a bulk batch from the lookups already done. A request
waiting for a manual upload holds no lease and is left alone. A run that was alive after all
and finishes later leaves the failed request as it is (``collection.moved_on``).

Per tenant, the audit chain is locked first and then the requests (rows another transaction
holds are skipped, to be looked at by the next sweep): the order every other use-case keeps.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.models import RequestState
from ferry.services import notify
from ferry.services.lifecycle import fail_in
from ferry.settings import get_settings
from ferry.store.audit import lock_chain
from ferry.store.tables import Request

log = logging.getLogger("ferry.stalled")
_LISTED = 50  # request ids named in the agent's mail; the rest are counted


def reclaim(now: datetime | None = None) -> list[str]:
    """Fail every tenant's collections whose lease ran out; answers their request ids."""
    if get_settings().collect_lease_s <= 0:
        return []
    moment = now or utcnow()
    failed: list[str] = []
    for tenant_id in _tenants_with_stale(moment):  # most sweeps: none, and no lock is taken
        failed += _reclaim(tenant_id, moment)
    return failed


def _tenants_with_stale(moment: datetime) -> list[int]:
    """Tenants with a request still collecting past its lease (a plain read, nothing locked)."""
    with unit_of_work() as session:
        query = (
            select(Request.tenant_id)
            .where(Request.state == RequestState.COLLECTING.value, Request.lease_until < moment)
            .distinct()
        )
        return sorted(session.scalars(query))


def _reclaim(tenant_id: int, moment: datetime) -> list[str]:
    with unit_of_work() as session:
        tenant = lock_chain(session, tenant_id)
        slug = tenant.slug
        query = (
            select(Request)
            .where(
                Request.tenant_id == tenant_id,
                Request.state == RequestState.COLLECTING.value,
                Request.lease_until < moment,
            )
            .order_by(Request.id)
            .with_for_update(skip_locked=True)
        )
        found = list(session.scalars(query))
        for req in found:
            fail_in(session, req, "system", _reason(req, slug))
        if found and tenant.agent_email:
            notify.send(
                session,
                found[0],
                tenant.agent_email,
                f"{len(found)} collection(s) stopped for {tenant.name}",
                _summary(found, slug),
                "stalled",
            )
        ids = [r.id for r in found]
    if ids:
        log.warning("failed %d stalled collection(s) of %s: %s", len(ids), slug, ", ".join(ids))
    return ids


def _reason(req: Request, slug: str) -> str:
    since = f"{req.lease_until:%Y-%m-%d %H:%M} UTC" if req.lease_until else "a while"
    return (
        f"collection stopped: the run collecting it stopped renewing its lease at {since} (its "
        f"worker probably died); collect it again with `ferry request run {req.id}`, or "
        f"`ferry request run --all {slug}` to resume a bulk batch where it stopped"
    )


def _summary(found: list[Request], slug: str) -> str:
    listed = "\n".join(f"  {r.id}" for r in found[:_LISTED])
    more = f"\n  and {len(found) - _LISTED} more" if len(found) > _LISTED else ""
    return (
        f"These requests were collecting, but the run collecting them stopped (its worker "
        f"probably died), so they are now failed:\n{listed}{more}\n\n"
        f"Collect them again with `ferry request run --all {slug}` (a bulk batch resumes where "
        "it stopped) or one by one with `ferry request run ID`.\n"
    )
