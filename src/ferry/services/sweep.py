"""The collection sweep: every tenant's verified requests, collected in bulk.

What ``ferry worker --beat`` schedules on Celery and ``ferry serve`` runs on its own timer (when
no broker is set): identity verified, then collection starts without an agent pressing a button.
One tenant's failure is logged and does not stop the others.
"""

from __future__ import annotations

import logging

from ferry.services import bulk
from ferry.services.tenants import list_tenants

log = logging.getLogger("ferry.sweep")


def collect_pending(actor: str = "worker") -> dict[str, int]:
    """Collect every verified request of every tenant; answers ``{tenant: requests handled}``."""
    handled: dict[str, int] = {}
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
