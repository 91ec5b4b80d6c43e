"""Requests end to end through the services (submit -> verify -> collect -> package -> ready),
on the embedded store (SQLite), one by one and in bulk."""

from __future__ import annotations

import multiprocessing
import os
import random
import secrets
import time
from pathlib import Path

from sqlalchemy import func, select

from bench.estate import MAP, Estate, email
from ferry.db import unit_of_work
from ferry.domain.models import Identity
from ferry.services import bulk, collection, requests, sweep, systems, tenants, verification
from ferry.settings import reset_settings
from ferry.store.migrate import upgrade
from ferry.store.tables import Request


def _store(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["FERRY_VAR_DIR"] = str(folder)
    os.environ["FERRY_DATABASE_URL"] = f"sqlite:///{folder / 'ferry.db'}"
    os.environ["FERRY_SECRET_KEY"] = secrets.token_urlsafe(32)
    reset_settings()
    upgrade()
    tenants.create_tenant("bench", "Bench Ltd", ["GB"])
    systems.add_system("bench", "shop", estate_url, MAP)


estate_url = ""


def _submit(person: str) -> str:
    view = requests.submit("bench", "access", [Identity.parse("email", person)], channel="api")
    verification.attest(view.id, "bench", "benchmark")
    return view.id


def run(estate: Estate, tmp: Path, people: int) -> None:
    """Wall time, and the process's CPU time (all threads) per request: on a shared machine the
    CPU time says what the code costs when the wall time mostly says how busy the machine is."""
    global estate_url
    estate_url = estate.sqlite_url
    rnd = random.Random(3)
    emails = [email(i) for i in rnd.sample(range(2, estate.customers + 1), people)]
    _store(tmp / "e2e-one")
    few = emails[: min(200, people)]
    start, cpu = time.perf_counter(), time.process_time()
    for person in few:
        view = collection.run(_submit(person), "bench")
        assert view.state == "ready", view.failure
    one, one_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"end to end one by one (sqlite store, {len(few)} requests): "
        f"{len(few) / one:7.1f} requests/s ({one / len(few) * 1000:.1f} ms each, "
        f"CPU {one_cpu / len(few) * 1000:.1f} ms each)",
        flush=True,
    )
    _store(tmp / "e2e-bulk")
    start, cpu = time.perf_counter(), time.process_time()
    for person in emails:
        _submit(person)
    submitted, submitted_cpu = time.perf_counter() - start, time.process_time() - cpu
    result = bulk.run_all("bench", "bench")
    total, total_cpu = time.perf_counter() - start, time.process_time() - cpu
    assert len(result.completed) == len(emails), result.failed
    n = len(emails)
    print(
        f"end to end bulk (sqlite store, {n} requests): {n / total:7.1f} "
        f"requests/s (submit+verify {submitted:.1f} s, collect+package {total - submitted:.1f} s; "
        f"CPU per request: submit+verify {submitted_cpu / n * 1000:.1f} ms, "
        f"collect+package {(total_cpu - submitted_cpu) / n * 1000:.1f} ms)",
        flush=True,
    )


_PENDING = ("received", "awaiting_verification", "verified", "collecting")  # may still move
_DEADLINE = 600.0  # seconds: the sweep gives up after this, whatever is left


def _states() -> dict[str, int]:
    """How many requests are in each state."""
    with unit_of_work() as session:
        query = select(Request.state, func.count()).group_by(Request.state)
        return {str(state): int(n) for state, n in session.execute(query)}


def _settled(total: int) -> bool:
    """Every request is submitted and none can still move on its own (ready, or stopped in
    review or failed: waiting for it would never end)."""
    counts = _states()
    return sum(counts.values()) >= total and not any(counts.get(s) for s in _PENDING)


def _sweeper(env: dict[str, str], total: int, pause: float) -> None:
    """The second process: what ``ferry worker`` does on its beat, the collection sweep, with
    a short pause between passes, until every request has settled (exit code 3 if the
    deadline passed first)."""
    os.environ.update(env)
    reset_settings()
    give_up = time.monotonic() + _DEADLINE
    while not _settled(total):
        if time.monotonic() > give_up:
            raise SystemExit(3)
        if not sweep.collect_pending("bench"):
            time.sleep(pause)


def pipelined(estate: Estate, tmp: Path, people: int, pause: float = 0.05) -> None:
    """Submissions in this process (as the web process takes them) while a second process runs
    the collection sweep (as ``ferry worker`` does): the deployment's shape on two cores.
    Wall time from the first submission to the last request settled; how many ended in each
    state is printed before anything is asserted."""
    global estate_url
    estate_url = estate.sqlite_url
    rnd = random.Random(5)
    emails = [email(i) for i in rnd.sample(range(2, estate.customers + 1), people)]
    _store(tmp / "e2e-pipelined")
    env = {k: os.environ[k] for k in ("FERRY_VAR_DIR", "FERRY_DATABASE_URL", "FERRY_SECRET_KEY")}
    worker = multiprocessing.get_context("spawn").Process(
        target=_sweeper, args=(env, len(emails), pause)
    )
    worker.start()
    start = time.perf_counter()
    try:
        for person in emails:
            _submit(person)
        submitted = time.perf_counter() - start
        worker.join(_DEADLINE + 60)
    finally:
        if worker.is_alive():  # a sweep pass that hangs, or submitting failed: stop it
            worker.terminate()
            worker.join()
    total = time.perf_counter() - start
    counts = _states()
    n = len(emails)
    ready = counts.get("ready", 0)
    others = {s: c for s, c in sorted(counts.items()) if s not in ("ready", "review", "failed")}
    print(
        f"end to end pipelined (sqlite store, {n} requests, submit here, sweep in a second "
        f"process): {ready / total:7.1f} ready requests/s (all submitted after {submitted:.1f} s, "
        f"settled after {total:.1f} s; ready {ready}, review {counts.get('review', 0)}, "
        f"failed {counts.get('failed', 0)}"
        + "".join(f", {s} {c}" for s, c in others.items())
        + f"; sweep exit code {worker.exitcode})",
        flush=True,
    )
    assert worker.exitcode == 0, worker.exitcode
    assert ready == n, counts
