"""The collection sweep: every tenant's verified requests, collected in bulk.

What ``ferry worker --beat`` schedules on Celery and ``ferry serve`` runs on its own timer (when
no broker is set): identity verified, then collection starts without an agent pressing a button.
One tenant's failure is logged and does not stop the others. Each sweep first fails the
collections a crashed worker left behind (:mod:`ferry.services.stalled`).
"""

from __future__ import annotations

import logging

from ferry.services import bulk, stalled
from ferry.services.tenants import list_tenants

log = logging.getLogger("ferry.sweep")


def collect_pending(actor: str = "worker") -> dict[str, int]:
    """Collect every verified request of every tenant; answers ``{tenant: requests handled}``."""
    handled: dict[str, int] = {}
    try:
        stalled.reclaim()  # a crashed worker's requests: failed, for the agent to run again
    except Exception:
        log.exception("looking for stalled collections failed")
    for tenant in list_tenants():
        try:
            result = bulk.run_all(tenant.slug, actor, resume=False)  # gaps: the agent decides
        except Exception:
            log.exception("collection sweep for tenant %s stopped", tenant.slug)
            continue
        count = len(result.completed) + len(result.failed)
        if count:
            handled[tenant.slug] = count
            log.info("collected %d request(s) for %s", count, tenant.slug)
    return handled
