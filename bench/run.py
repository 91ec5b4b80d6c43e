"""Ferry's collection benchmarks, each against a hand-written baseline in the same run.

    python -m bench.run [--customers 10000] [--heavy 1000000] [--people 1000] [--no-pg]

Prints a table of timings and Ferry/baseline ratios (lower is better for Ferry).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench import e2e, workloads
from bench.estate import HEAVY_ID, Estate, build, email

PG_ADMIN = os.environ.get(
    "FERRY_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed_cpu(fn: Callable[[], object], cpu: list[float]) -> float:
    """Wall time, and this process's CPU time appended to ``cpu`` (no waiting for the disk
    or the database: on a machine whose disk is shared, fsync dominates the wall time)."""
    start, used = time.perf_counter(), time.process_time()
    fn()
    cpu.append(time.process_time() - used)
    return time.perf_counter() - start


def report(name: str, ferry: float, base: float, unit: str = "ms", scale: float = 1000) -> None:
    print(
        f"{name:<52} ferry {ferry * scale:10.2f} {unit}  baseline {base * scale:10.2f} {unit}"
        f"  ratio {ferry / base:6.2f}x",
        flush=True,
    )


def one_person(estate: Estate, tmp: Path, samples: int) -> None:
    rnd = random.Random(1)
    emails = [email(rnd.randrange(2, estate.customers + 1)) for _ in range(samples)]
    targets = [("sqlite", estate.sqlite_url, workloads.sqlite_conn(estate.sqlite_url), "?")]
    if estate.pg_url:
        targets.append(("postgres", estate.pg_url, workloads.pg_conn(estate.pg_url), "%s"))
    for name, url, conn, mark in targets:
        workloads.ferry_people(url, emails[:1], tmp, tmp)  # warm: pools, reflection
        ferry: list[float] = []
        base: list[float] = []
        cpu_f: list[float] = []
        cpu_b: list[float] = []
        for e in emails:  # interleaved, so disk and cache noise hits both alike
            ferry.append(timed_cpu(partial(workloads.ferry_people, url, [e], tmp, tmp), cpu_f))
            base.append(
                timed_cpu(partial(workloads.baseline_sql, conn, e, tmp / "b.zip", mark), cpu_b)
            )
        only_f: list[float] = []
        only_b: list[float] = []
        for e in emails:
            only_f.append(timed(partial(workloads.ferry_collect_only, url, e, tmp)))
            only_b.append(timed(partial(workloads.baseline_collect_only, conn, e, mark)))
        report(
            f"one person, {name}, collection only (median)",
            statistics.median(only_f),
            statistics.median(only_b),
        )
        report(
            f"one person, {name} (median of {samples})",
            statistics.median(ferry),
            statistics.median(base),
        )
        report(f"one person, {name} (p95)", _p95(ferry), _p95(base))
        report(
            f"one person, {name}, CPU time (median)",
            statistics.median(cpu_f),
            statistics.median(cpu_b),
        )
        conn.close()


def _p95(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.95) - 1]


def many_people(estate: Estate, tmp: Path, people: int, single_sample: int) -> None:
    rnd = random.Random(2)
    emails = [email(i) for i in rnd.sample(range(2, estate.customers + 1), people)]
    sources = [("sqlite", estate.sqlite_url), ("csv", str(estate.csv_dir))]
    if estate.pg_url:
        sources.insert(1, ("postgres", estate.pg_url))
    for name, url in sources:
        bulk = timed(lambda url=url: workloads.ferry_people(url, emails, tmp, tmp))
        few = emails[:single_sample] if name == "csv" else emails
        one = timed(
            lambda url=url, few=few: [workloads.ferry_people(url, [e], tmp, tmp) for e in few]
        )
        one = one * len(emails) / len(few)
        note = f" (one-by-one extrapolated from {len(few)})" if len(few) < len(emails) else ""
        print(
            f"{people} people, {name}: one by one {one:8.2f} s, bulk {bulk:6.2f} s, "
            f"bulk is {one / bulk:6.1f}x faster{note}",
            flush=True,
        )
        if name == "csv":
            base = timed(lambda: workloads.baseline_csv(estate.csv_dir, emails, tmp))
            report(f"{people} people bulk, csv, vs one-pass baseline", bulk, base, "s", 1)
        else:
            conn = workloads.sqlite_conn(url) if name == "sqlite" else workloads.pg_conn(url)
            mark = "?" if name == "sqlite" else "%s"
            base = timed(
                lambda conn=conn, mark=mark: [
                    workloads.baseline_sql(conn, e, tmp / "b.zip", mark) for e in emails
                ]
            )
            report(
                f"{people} people, {name}, ferry bulk vs baseline one by one", bulk, base, "s", 1
            )
            conn.close()


def heavy(estate: Estate, tmp: Path) -> None:
    targets = [("sqlite", estate.sqlite_url)] + (
        [("postgres", estate.pg_url)] if estate.pg_url else []
    )
    for name, url in targets:
        results = {}
        for mode in ("ferry", "baseline"):
            out = tmp / f"heavy-{mode}"
            done = subprocess.run(
                [sys.executable, "-m", "bench.heavy", mode, str(url), email(HEAVY_ID), str(out)],
                capture_output=True,
                text=True,
                check=True,
            )
            results[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            shutil.rmtree(out, ignore_errors=True)
        f, b = results["ferry"], results["baseline"]
        print(
            f"heavy person, {name}: {f['rows']} rows; "
            f"ferry {f['rows'] / f['seconds']:,.0f} rows/s, "
            f"peak {f['peak_mb']:.0f} MB; baseline {b['rows'] / b['seconds']:,.0f} rows/s, "
            f"peak {b['peak_mb']:.0f} MB; time ratio {f['seconds'] / b['seconds']:.2f}x",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--heavy", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--data", type=Path, default=Path("var/bench"))
    parser.add_argument("--only", default="one,many,e2e,heavy")
    args = parser.parse_args()
    start = time.perf_counter()
    estate = build(
        args.data / str(args.customers),
        args.customers,
        args.heavy,
        None if args.no_pg else PG_ADMIN,
    )
    print(
        f"estate: {args.customers} customers, heavy person with {args.heavy} events "
        f"({time.perf_counter() - start:.0f} s to build or find)",
        flush=True,
    )
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if "one" in only:
            one_person(estate, tmp, args.samples)
        if "many" in only:
            many_people(estate, tmp, args.people, single_sample=10)
        if "e2e" in only:
            e2e.run(estate, tmp, args.people)
            e2e.pipelined(estate, tmp, args.people)
        if "heavy" in only:
            heavy(estate, tmp)


if __name__ == "__main__":
    main()
