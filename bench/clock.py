"""Clock benchmarks: `python -m bench.clock`. Ratios against baselines measured in the same run.

1. deadline maths with public holidays vs the same periods without holidays;
2. one SLA tick over N open requests vs reading the same requests once (the floor).
"""

from __future__ import annotations

import os
import random
import secrets
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path


def _timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def deadline_maths(n: int = 20_000) -> None:
    from ferry.domain.deadlines import add_period
    from ferry.jurisdictions import deadlines_for, known_codes, rule_for

    rnd = random.Random(7)
    codes = known_codes()
    cases = [
        (rnd.choice(codes), date(2020, 1, 1) + timedelta(rnd.randrange(3650))) for _ in range(n)
    ]
    for code in codes:  # load calendars outside the timing
        deadlines_for(code, date(2025, 1, 1))

    def plain() -> None:
        for code, day in cases:
            add_period(day, rule_for(code).period)

    def full() -> None:
        for code, day in cases:
            deadlines_for(code, day)

    base, ours = _timed(plain), _timed(full)
    print(
        f"deadlines: {n} cases, {n / ours:,.0f}/s with holidays, extension and acknowledgement;"
        f" baseline {n / base:,.0f}/s plain add_period; ratio {ours / base:.1f}x"
    )


def sla_tick(n: int = 2_000) -> None:
    var = Path(tempfile.mkdtemp(prefix="ferry-bench-"))
    os.environ.update(
        FERRY_VAR_DIR=str(var),
        FERRY_DATABASE_URL=f"sqlite:///{var}/ferry.db",
        FERRY_SECRET_KEY=secrets.token_urlsafe(32),
    )
    from ferry.db import unit_of_work
    from ferry.services import sla, tenants
    from ferry.services.clock import start
    from ferry.store import clocks
    from ferry.store.migrate import upgrade
    from ferry.store.tables import Request, RequestIdentity, Tenant

    upgrade()
    tenants.create_tenant("bench", "Bench", ["GB"])
    received = datetime(2026, 3, 2, 9)
    with unit_of_work() as session:
        tenant = session.query(Tenant).one()
        for i in range(n):
            req = Request(
                id=secrets.token_hex(16),
                tenant_id=tenant.id,
                kind="access",
                state="verified",
                jurisdiction="GB",
                received_at=received,
                due_date=date(2026, 4, 2),
                scope={},
                channel="bench",
            )
            req.identities = [RequestIdentity(type="customer_id", value=f"C{i}")]
            session.add(req)
            session.flush()
            start(session, tenant, req)

    def floor() -> None:  # reading every open request with its clock, once
        with unit_of_work() as session:
            clocks.open_with_clocks(session)

    base = _timed(floor)
    first = _timed(sla.run_due_reminders, received + timedelta(days=16))  # two reminders each
    again = _timed(sla.run_due_reminders, received + timedelta(days=16))  # nothing to send
    print(
        f"sla tick: {n} open requests; first pass {first:.2f}s ({n / first:,.0f}/s, "
        f"{first / base:.0f}x the read floor of {base:.3f}s); idempotent re-run {again:.2f}s "
        f"({again / base:.0f}x)"
    )


if __name__ == "__main__":
    deadline_maths()
    sla_tick()
