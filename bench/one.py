"""One measurement in a fresh process: ``python -m bench.one IMPL FORMAT ROWS LAZY [DIR]``.

IMPL is ours, baseline, package (FORMAT ours or baseline) or generate. Prints JSON: wall and
CPU seconds, bytes written, peak RSS (KiB) of this process.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from bench.baselines import BASELINES
from bench.rows import dataset
from ferry.crypto.signing import Signer
from ferry.export.package import PackageMeta, write_package
from ferry.export.readme import ReadmeMeta
from ferry.export.report import ReportEntry, write_report
from ferry.export.schema import infer_schema
from ferry.export.writers import WriterOptions, get_writer

ALL = ("csv", "html", "ical", "json", "vcard", "xml")
META = PackageMeta(
    tenant="Bench Ltd", request_id="bench", created=datetime(2024, 1, 1, tzinfo=UTC), formats=ALL
)


class NullSink:
    """Counts bytes; no I/O, so the numbers are the writers' own cost."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)


def ours(fmt: str, rows: int, lazy: bool) -> int:
    data = dataset(rows, lazy)
    sink = NullSink()
    schema = infer_schema(data)
    if fmt == "schema":
        return len(schema.fields)
    if fmt == "html":
        entry = ReportEntry(data, schema, ("shop/orders.json",))
        meta: ReadmeMeta = META
        write_report(sink, meta, [entry], include_rows=True)
    else:
        get_writer(fmt, WriterOptions(stamp=META.created)).write(sink, data, schema)
    return sink.size


def baseline(fmt: str, rows: int, lazy: bool) -> int:
    sink = NullSink()
    BASELINES[fmt](sink, iter(dataset(rows, lazy).rows))
    return sink.size


def generate(rows: int, lazy: bool) -> int:
    count = 0
    for _ in dataset(rows, lazy).rows:
        count += 1
    return count


def package_ours(rows: int, lazy: bool, folder: Path) -> int:
    info = write_package(folder / "p.zip", [dataset(rows, lazy)], META, Signer.generate())
    return info.size


def package_baseline(rows: int, lazy: bool, folder: Path) -> int:
    path = folder / "b.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for fmt in ("csv", "html", "json", "vcard", "xml"):  # what ours writes for these rows
            with zf.open(f"data/shop/orders.{fmt}", "w", force_zip64=True) as raw:
                BASELINES[fmt](raw, iter(dataset(rows, lazy).rows))
    return path.stat().st_size


def _prebuild(rows: int, schema: bool) -> None:
    """Make the rows now; with ``schema``, infer it now too (one schema serves every format
    of a package, so it is timed on its own, as ``schema``)."""
    global dataset, infer_schema
    data = dataset(rows)
    dataset = lambda _rows, _lazy=False: data  # noqa: E731
    if schema:
        inferred = infer_schema(data)
        infer_schema = lambda _data: inferred  # noqa: E731


def main() -> None:
    impl, fmt, rows, lazy = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "lazy"
    with tempfile.TemporaryDirectory(dir=sys.argv[5] if len(sys.argv) > 5 else None) as tmp:
        if not lazy:  # the rows exist before writing starts, as after a collection
            _prebuild(rows, schema=impl == "ours" and fmt != "schema")
        start, cpu = time.perf_counter(), time.process_time()
        if impl == "package":
            size = (package_ours if fmt == "ours" else package_baseline)(rows, lazy, Path(tmp))
        elif impl == "generate":
            size = generate(rows, lazy)
        else:
            size = (ours if impl == "ours" else baseline)(fmt, rows, lazy)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "cpu": cpu, "bytes": size, "maxrss_kib": rss}))


if __name__ == "__main__":
    main()
