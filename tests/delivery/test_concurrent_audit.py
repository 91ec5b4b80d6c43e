"""Background deliveries and callbacks write the audit trail while requests are worked on: many
concurrent writers must queue, never fork the chain or lose an event (SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ferry.db import unit_of_work
from ferry.services import audit, tenants
from ferry.services.audit import record
from ferry.store import tenants as tenant_store


def test_concurrent_writers_keep_one_chain(ferry_env_any: Path) -> None:
    tenants.create_tenant("acme", "Acme", ["GB"])

    def write(worker: int) -> None:
        for n in range(15):
            with unit_of_work() as session:
                tenant = tenant_store.get_by_slug(session, "acme")
                record(session, tenant.id, f"worker-{worker}", "test.event", data={"n": n})

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(write, range(6)))
    report = audit.verify_tenant("acme")
    assert report.ok, report.problem
    assert report.events == 1 + 6 * 15
