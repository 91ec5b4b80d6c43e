"""Package-writing benchmark: ``python -m bench.package_bench [--rows N]``.

For each format, the same rows are written by Ferry's writer and by a baseline that writes
them directly with the standard library / orjson, each in a fresh process, in this run.
The vCard and iCalendar baselines write exactly Ferry's bytes (checked before timing).
Reported: MB/s (output bytes per CPU second), the time ratio ours/baseline (target: within
1.3x), then the whole package (every format, zip, manifests, signature) against a zip of the
baseline outputs, and peak RSS at N/10 and N rows with lazily made rows (flat = streaming).
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from typing import Any

FORMATS = ("json", "csv", "xml", "html", "vcard", "ical")


def one(*args: object) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.one", *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def mbps(r: dict[str, Any]) -> float:
    return float(r["bytes"]) / max(float(r["cpu"]), 1e-9) / 1e6


def check_same_bytes(rows: int = 20_000) -> None:
    """vCard and iCalendar baselines must write Ferry's exact bytes for the benchmark rows
    (the same escaping, folding and UIDs), or the ratio would compare different work. Run in
    its own process: a child started later would report this process's peak RSS as its own."""
    from bench.baselines import BASELINES
    from bench.one import META
    from bench.rows import dataset
    from ferry.export.schema import infer_schema
    from ferry.export.writers import WriterOptions, get_writer

    for fmt in ("vcard", "ical"):
        data = dataset(rows, lazy=True)
        ours, base = io.BytesIO(), io.BytesIO()
        get_writer(fmt, WriterOptions(stamp=META.created)).write(ours, data, infer_schema(data))
        BASELINES[fmt](base, iter(data.rows))
        if ours.getvalue() != base.getvalue():
            raise SystemExit(f"{fmt}: the baseline's bytes differ from Ferry's; fix the baseline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--check", action="store_true", help="only check the baselines' bytes")
    args = parser.parse_args()
    if args.check:
        check_same_bytes()
        return
    subprocess.run([sys.executable, "-m", "bench.package_bench", "--check"], check=True)
    rows = args.rows
    small = max(rows // 10, 1)
    print(f"rows: {rows:,} (list rows for speed; lazy rows for peak RSS)\n")
    print(
        f"{'format':8} {'ours MB/s':>10} {'base MB/s':>10} {'ours s':>8} {'base s':>8} {'ratio':>6}"
    )
    for fmt in FORMATS:
        ours, base = one("ours", fmt, rows, "list"), one("baseline", fmt, rows, "list")
        ratio = ours["cpu"] / base["cpu"]
        print(
            f"{fmt:8} {mbps(ours):10.1f} {mbps(base):10.1f} {ours['cpu']:8.2f} "
            f"{base['cpu']:8.2f} {ratio:6.2f}"
        )
    schema = one("ours", "schema", rows, "list")
    print(f"{'schema':8} {'':>10} {'':>10} {schema['cpu']:8.2f}   (once per dataset, all formats)")
    ours, base = one("package", "ours", rows, "list"), one("package", "baseline", rows, "list")
    print(
        f"\npackage, all formats: ours {ours['cpu']:.2f} s CPU ({ours['bytes'] / 1e6:.1f} MB zip), "
        f"baseline {base['cpu']:.2f} s ({base['bytes'] / 1e6:.1f} MB), "
        f"ratio {ours['cpu'] / base['cpu']:.2f}"
    )
    print(f"\npeak RSS (MiB), lazy rows: {small:,} rows -> {rows:,} rows")
    for fmt in (*FORMATS, "package"):
        if fmt == "package":
            a, b = one("package", "ours", small, "lazy"), one("package", "ours", rows, "lazy")
        else:
            a, b = one("ours", fmt, small, "lazy"), one("ours", fmt, rows, "lazy")
        print(f"  {fmt:8} {a['maxrss_kib'] / 1024:7.1f} -> {b['maxrss_kib'] / 1024:7.1f}")


if __name__ == "__main__":
    main()
