"""Collections a crashed worker left behind.

A worker killed in the middle of a run (out of memory, a host restart) leaves its requests
``collecting`` with nobody working on them, and the sweep only picks up ``verified`` ones. The
sweep therefore also looks for requests that have been ``collecting`` for longer than
``FERRY_COLLECT_STALE_S`` without an open manual upload task (those wait on purpose), and moves
them to ``failed`` with the reason, telling the tenant's agent. The agent sees them in the queue;
``ferry request run ID`` or ``run --all`` continues from the systems and lookups already done.

The threshold must be longer than any real collection (each system's ``timeout_seconds`` times
its attempts, plus packaging). A run that was still going after all and finishes later leaves
the failed request as it is (see ``collection.moved_on``): the agent runs it again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from ferry.db import unit_of_work
from ferry.domain.clock import utcnow
from ferry.domain.models import RequestState
from ferry.services import notify, uploads
from ferry.services.collection import fail_in
from ferry.settings import get_settings
from ferry.store.tables import Request, Tenant

log = logging.getLogger("ferry.stalled")


def reclaim(now: datetime | None = None) -> list[str]:
    """Fail every tenant's stalled collections; answers their request ids."""
    stale_s = get_settings().collect_stale_s
    if stale_s <= 0:
        return []
    moment = now or utcnow()
    cutoff = moment - timedelta(seconds=stale_s)
    minutes = max(1, round(stale_s / 60))
    reason = (
        f"collection stopped: no progress for over {minutes} minutes (the worker running it "
        "ended); run it again to continue from what was already collected"
    )
    failed: list[str] = []
    with unit_of_work() as session:
        query = (
            select(Request)
            .where(Request.state == RequestState.COLLECTING.value, Request.updated_at < cutoff)
            .order_by(Request.updated_at)
            .with_for_update()
        )
        found = list(session.scalars(query))
        waiting = uploads.open_tasks(session, [r.id for r in found])
        for req in found:
            if req.id in waiting:  # waiting for a system owner's upload, on purpose
                continue
            fail_in(session, req, "system", reason)
            tenant = session.get_one(Tenant, req.tenant_id)
            if tenant.agent_email:
                body = f"Request {req.id} was {reason}.\n"
                notify.send(
                    session, req, tenant.agent_email, "A collection stopped", body, "stalled"
                )
            failed.append(req.id)
    if failed:
        log.warning("failed %d stalled collection(s): %s", len(failed), ", ".join(failed))
    return failed
