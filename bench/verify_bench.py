"""Verification: is the work the same for known and unknown people, and what do the guards cost?

Run: ``.venv/bin/python -m bench.verify_bench [PEOPLE]``. Uses a throw-away var dir (SQLite).
Prints medians and ratios against baselines measured in the same run:

* knowledge answers, unknown person vs known person with wrong answers (want ~1.0);
* an email-code answer through the service (store, guards, audit) vs the plugin's check alone;
* the store-backed rate limiter vs an in-process dict counter.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ferry.crypto.tokens import new_code
from ferry.domain.errors import FerryError
from ferry.domain.models import Identity


def _median_ms(calls: list[Callable[[], object]]) -> float:
    times = []
    for call in calls:
        start = time.perf_counter()
        with contextlib.suppress(FerryError):
            call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main(people: int = 150) -> None:
    var = Path(tempfile.mkdtemp(prefix="ferry-bench-"))
    os.environ.update(
        FERRY_VAR_DIR=str(var),
        FERRY_SECRET_KEY="bench-secret",
        FERRY_DATABASE_URL=f"sqlite:///{var / 'ferry.db'}",
    )
    from ferry.services import demo, requests, verification, verify_guard
    from ferry.verify.base import Attempt
    from ferry.verify.codes import EmailCode, code_hash

    shop = demo.seed(customers=people)
    import sqlite3

    con = sqlite3.connect(shop.database)
    emails = [r[0] for r in con.execute("select email from customers order by id")]
    con.close()
    wrong = {"postcode": "ZZ9 9ZZ", "date_of_birth": "1901-01-01", "last_order": "1"}

    def submit(email: str) -> str:
        return requests.submit("acme", "access", [Identity.parse("email", email)]).id

    known = [submit(e) for e in emails]
    unknown = [submit(f"nobody{i}@example.org") for i in range(len(emails))]
    ms_known = _median_ms([lambda r=r: verification.answer(r, "knowledge", wrong) for r in known])
    ms_unknown = _median_ms(
        [lambda r=r: verification.answer(r, "knowledge", wrong) for r in unknown]
    )

    codes = [submit(f"code{i}@example.org") for i in range(len(emails))]
    ms_service = _median_ms([lambda r=r: verification.check_code(r, "000000") for r in codes])
    plugin = EmailCode.build({})
    digest = code_hash("bench-secret", "email-code", "r", new_code())
    attempt = Attempt("r", "bench-secret", {"code": "000000"}, {"hash": digest})
    ms_plugin = _median_ms([lambda: plugin.check(attempt)] * len(emails))

    ms_store = _median_ms(
        [
            lambda i=i: verify_guard.throttle(f"10.0.0.{i % 250}", "bench")
            for i in range(len(emails))
        ]
    )
    counts: dict[str, int] = {}
    ms_dict = _median_ms(
        [lambda i=i: counts.update({str(i): counts.get(str(i), 0) + 1}) for i in range(len(emails))]
    )

    print(f"people: {len(emails)} known, {len(emails)} unknown (SQLite store, SQLite shop)")
    print(f"knowledge answer, known person, wrong facts: {ms_known:.2f} ms (baseline)")
    print(
        f"knowledge answer, unknown person:            {ms_unknown:.2f} ms "
        f"ratio {ms_unknown / ms_known:.2f}"
    )
    print(f"email code, plugin check alone:              {ms_plugin:.4f} ms (baseline)")
    print(
        f"email code, wrong, through the service:      {ms_service:.2f} ms "
        f"ratio {ms_service / ms_plugin:.0f}"
    )
    print(f"rate limit, in-process dict:                 {ms_dict:.4f} ms (baseline)")
    print(
        f"rate limit, store-backed counter:            {ms_store:.2f} ms "
        f"ratio {ms_store / ms_dict:.0f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 150)
