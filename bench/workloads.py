"""The workloads, each as Ferry and as a hand-written baseline doing the same queries and
writing the same JSON rows into a zip."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import zipfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench.estate import MAP
from ferry.collect.datamap import load_datamap
from ferry.collect.engine import Collection, Person, Source
from ferry.connectors.registry import open_connector
from ferry.domain.models import Identity
from ferry.export.jsonenc import json_default
from ferry.export.package import PackageMeta, write_package

DATAMAP = load_datamap(MAP)
META = PackageMeta(tenant="Bench Ltd", request_id="bench", created=datetime(2026, 1, 1, tzinfo=UTC))


# --- Ferry ------------------------------------------------------------------------------


def ferry_people(url: str, emails: list[str], work: Path, out: Path) -> int:
    """Collect these people together (bulk; one person is a bulk of one) and package each."""
    source = Source("bench", DATAMAP, lambda: open_connector(url))
    people = [Person(f"p{i}", [Identity.parse("email", e)]) for i, e in enumerate(emails)]
    folder = work / f"w{abs(hash(tuple(emails)))}"
    engine = Collection([source], people, folder)
    outcome = engine.run()["bench"]
    if outcome.status != "done":
        raise RuntimeError(outcome.error)
    rows = 0
    for person in people:
        info = write_package(out / f"{person.key}.zip", engine.datasets(person), META)
        rows += sum(f.rows or 0 for f in info.files)
    shutil.rmtree(folder, ignore_errors=True)
    return rows


def ferry_collect_only(url: str, person_email: str, work: Path) -> int:
    """The engine alone (rows read back from the spools, no package written)."""
    source = Source("bench", DATAMAP, lambda: open_connector(url))
    person = Person("p", [Identity.parse("email", person_email)])
    engine = Collection([source], [person], work / "c")
    engine.run()
    rows = sum(1 for d in engine.datasets(person) for _ in d.rows)
    shutil.rmtree(work / "c", ignore_errors=True)
    return rows


def baseline_collect_only(conn: Any, person_email: str, mark: str = "?") -> int:
    found: dict[str, list[dict[str, Any]]] = {}
    cur = conn.cursor()
    for table, column, parent in QUERIES:
        values = [person_email] if parent is None else [r[parent[1]] for r in found[parent[0]]]
        found[table] = list(_sql_rows(cur, table, column, values, mark))
    return sum(len(v) for v in found.values())


# --- baseline: plain DB-API / csv module, the same lookups, JSON rows into a zip ----------

QUERIES = [
    ("customers", "email", None),
    ("orders", "customer_id", ("customers", "id")),
    ("order_items", "order_id", ("orders", "id")),
    ("events", "customer_id", ("customers", "id")),
]


def _zip(path: Path, datasets: Iterable[tuple[str, Iterable[dict[str, Any]]]]) -> int:
    """The same durability as Ferry's writer: temp file, fsync, rename, fsync the folder."""
    count = 0
    tmp = path.with_suffix(".partial")
    with tmp.open("w+b") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, rows in datasets:
            with zf.open(f"data/bench/{name}.json", "w", force_zip64=True) as fh:
                fh.write(b'{"rows": [')
                for i, row in enumerate(rows):
                    fh.write(
                        (b",\n" if i else b"\n") + json.dumps(row, default=json_default).encode()
                    )
                    count += 1
                fh.write(b"]}\n")
        zf.close()
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)
    return count


def _sql_rows(
    cur: Any, table: str, column: str, values: list[object], mark: str
) -> Iterator[dict[str, Any]]:
    if not values:
        return
    marks = ",".join([mark] * len(values))
    cur.execute(f"SELECT * FROM {table} WHERE {column} IN ({marks}) ORDER BY id", values)
    names = [d[0] for d in cur.description]
    for row in cur:
        yield dict(zip(names, row, strict=True))


def baseline_sql(conn: Any, email: str, path: Path, mark: str = "?", stream: Any = None) -> int:
    """``stream``: a cursor that does not load the whole result (PostgreSQL: a named one)."""
    found: dict[str, list[dict[str, Any]]] = {}
    cur = conn.cursor()
    for table, column, parent in QUERIES:
        values = [email] if parent is None else [r[parent[1]] for r in found[parent[0]]]
        if table == "events":  # the big one: streamed straight into the zip below
            continue
        found[table] = list(_sql_rows(cur, table, column, values, mark))
    ids = [r["id"] for r in found["customers"]]
    events = _sql_rows(stream or conn.cursor(), "events", "customer_id", ids, mark)
    return _zip(path, [*found.items(), ("events", events)])


def baseline_csv(folder: Path, emails: list[str], out: Path) -> int:
    """One person at a time would rescan; this is the bulk-shaped baseline: one pass per file."""
    wanted = {e: i for i, e in enumerate(emails)}
    per: dict[int, dict[str, list[dict[str, str]]]] = {i: {} for i in wanted.values()}
    owner: dict[str, dict[str, int]] = {}
    for table, column, parent in QUERIES:
        keys = wanted if parent is None else owner[f"{parent[0]}.{parent[1]}"]
        owner[f"{table}.id"] = {}
        with (folder / f"{table}.csv").open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                who = keys.get(row[column])
                if who is not None:
                    per[who].setdefault(table, []).append(row)
                    owner[f"{table}.id"][row["id"]] = who
    return sum(_zip(out / f"b{i}.zip", list(d.items())) for i, d in per.items())


def sqlite_conn(url: str) -> sqlite3.Connection:
    return sqlite3.connect(
        f"file:{url.removeprefix('sqlite:///')}?mode=ro", uri=True, check_same_thread=False
    )


def pg_conn(url: str) -> Any:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
