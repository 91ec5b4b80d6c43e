"""One heavy person in a process of its own, so peak RSS is this workload's alone.

python -m bench.heavy ferry|baseline URL EMAIL OUT_DIR
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from bench import workloads


def peak_rss_mb() -> float:
    """This process's own peak RSS (VmHWM; ru_maxrss would carry the parent's over exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    mode, url, email, out = sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])
    out.mkdir(parents=True, exist_ok=True)
    start, cpu = time.perf_counter(), time.process_time()
    if mode == "ferry":
        rows = workloads.ferry_people(url, [email], out / "work", out)
    elif url.startswith("sqlite"):
        rows = workloads.baseline_sql(workloads.sqlite_conn(url), email, out / "b.zip")
    else:
        conn = workloads.pg_conn(url)
        with conn.transaction():
            rows = workloads.baseline_sql(conn, email, out / "b.zip", "%s", conn.cursor(name="ev"))
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = peak_rss_mb()
    print(json.dumps({"rows": rows, "seconds": seconds, "cpu": cpu, "peak_mb": peak}))


if __name__ == "__main__":
    main()
