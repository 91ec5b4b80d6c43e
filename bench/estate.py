"""A seeded client estate for benchmarks: customers, orders, order items and events, the same
rows in SQLite, PostgreSQL and CSV files, plus one heavy person with many events."""

from __future__ import annotations

import csv
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

SCHEMA = {
    "customers": "id INTEGER PRIMARY KEY, email TEXT, first_name TEXT, last_name TEXT, "
    "phone TEXT, created_at TIMESTAMP",
    "orders": "id INTEGER PRIMARY KEY, customer_id INTEGER, placed_at TIMESTAMP, total NUMERIC",
    "order_items": "id INTEGER PRIMARY KEY, order_id INTEGER, sku TEXT, qty INTEGER, price NUMERIC",
    "events": "id INTEGER PRIMARY KEY, customer_id INTEGER, at TIMESTAMP, kind TEXT, detail TEXT",
}
INDEXES = [
    ("orders", "customer_id"),
    ("order_items", "order_id"),
    ("events", "customer_id"),
    ("customers", "email"),
]
COLUMNS = {t: [c.split()[0] for c in s.split(", ")] for t, s in SCHEMA.items()}
HEAVY_ID = 1
FIRST = ["ann", "bob", "cy", "dee", "eli", "fay", "gus", "hal", "ivy", "jo", "kai", "lu"]
LAST = ["smith", "jones", "brown", "taylor", "wilson", "evans", "thomas", "roberts"]
KINDS = ["login", "view", "search", "cart", "logout"]
T0 = datetime(2024, 1, 1)

MAP = """
system: bench
datasets:
  customers:
    primary_key: id
    identities: {email: email, customer_id: id}
    timestamp: created_at
    fields: {id: user.unique_id, email: user.contact.email, first_name: user.name.first,
             last_name: user.name.last, phone: user.contact.phone_number,
             created_at: user.account}
  orders:
    primary_key: id
    timestamp: placed_at
    references: [{field: customer_id, to: customers.id}]
    fields: {total: user.financial}
  order_items:
    primary_key: id
    references: [{field: order_id, to: orders.id}]
  events:
    primary_key: id
    timestamp: at
    references: [{field: customer_id, to: customers.id}]
    fields: {kind: user.behavior, detail: user.behavior}
"""


def email(i: int) -> str:
    return f"{FIRST[i % len(FIRST)]}.{LAST[i % len(LAST)]}.{i}@example.com"


@dataclass(frozen=True)
class Estate:
    customers: int
    sqlite_url: str
    csv_dir: Path
    pg_url: str | None
    heavy_events: int


def rows(
    customers: int, heavy_events: int, seed: int = 7
) -> dict[str, Iterator[tuple[object, ...]]]:
    rnd = random.Random(seed)

    def customers_() -> Iterator[tuple[object, ...]]:
        for i in range(1, customers + 1):
            yield (
                i,
                email(i),
                FIRST[i % 12].title(),
                LAST[i % 8].title(),
                f"+44 20 {rnd.randrange(10**7):07d}",
                T0 - timedelta(days=i % 900),
            )

    order_ids = iter(range(1, 10**9))
    item_ids = iter(range(1, 10**9))

    def orders_items() -> Iterator[tuple[str, tuple[object, ...]]]:
        for c in range(1, customers + 1):
            for _ in range(3):
                oid = next(order_ids)
                yield "orders", (oid, c, T0 + timedelta(hours=oid % 5000), f"{oid % 997}.50")
                for k in range(2):
                    yield (
                        "order_items",
                        (next(item_ids), oid, f"SKU-{(oid + k) % 500}", 1 + k, "9.99"),
                    )

    def events() -> Iterator[tuple[object, ...]]:
        eid = 0
        for _ in range(heavy_events):
            eid += 1
            yield (eid, HEAVY_ID, T0 + timedelta(seconds=eid), KINDS[eid % 5], f"page/{eid % 1000}")
        for c in range(2, customers + 1):
            for _ in range(5):
                eid += 1
                yield (eid, c, T0 + timedelta(seconds=eid), KINDS[eid % 5], f"page/{eid % 1000}")

    split: dict[str, list[tuple[object, ...]]] = {"orders": [], "order_items": []}
    for table, row in orders_items():
        split[table].append(row)
    return {
        "customers": customers_(),
        "orders": iter(split["orders"]),
        "order_items": iter(split["order_items"]),
        "events": events(),
    }


def build(folder: Path, customers: int, heavy_events: int, pg_admin_url: str | None) -> Estate:
    """Write the estate (skipped when already built with the same sizes)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = folder / f"built-{customers}-{heavy_events}"
    db = folder / "estate.db"
    csv_dir = folder / "csv"
    pg_name = f"ferry_bench_{customers}_{heavy_events}"
    if not stamp.exists():
        for path in folder.glob("built-*"):
            path.unlink()
        db.unlink(missing_ok=True)
        _sqlite(db, rows(customers, heavy_events))
        _csv(csv_dir, rows(customers, heavy_events))
        if pg_admin_url:
            _pg(pg_admin_url, pg_name, rows(customers, heavy_events))
        stamp.touch()
    pg_url = None
    if pg_admin_url:
        pg_url = pg_admin_url.rsplit("/", 1)[0] + f"/{pg_name}"
    return Estate(customers, f"sqlite:///{db}", csv_dir, pg_url, heavy_events)


def _sqlite(path: Path, data: dict[str, Iterator[tuple[object, ...]]]) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=OFF")
    con.execute("PRAGMA synchronous=OFF")
    for table, schema in SCHEMA.items():
        con.execute(f"CREATE TABLE {table} ({schema})")
        marks = ",".join("?" * len(COLUMNS[table]))
        con.executemany(
            f"INSERT INTO {table} VALUES ({marks})",
            ((*r[:-1], str(r[-1])) if table != "customers" else r for r in data[table]),
        )
    for table, col in INDEXES:
        con.execute(f"CREATE INDEX ix_{table}_{col} ON {table}({col})")
    con.commit()
    con.close()


def _csv(folder: Path, data: dict[str, Iterator[tuple[object, ...]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for table in SCHEMA:
        with (folder / f"{table}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(COLUMNS[table])
            writer.writerows(data[table])


def _pg(admin_url: str, name: str, data: dict[str, Iterator[tuple[object, ...]]]) -> None:
    plain = admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    target = plain.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(target) as conn:
        for table, schema in SCHEMA.items():
            ddl = schema.replace("INTEGER PRIMARY KEY", "BIGINT PRIMARY KEY")
            conn.execute(f"CREATE TABLE {table} ({ddl})")
            with conn.cursor().copy(
                f"COPY {table} ({', '.join(COLUMNS[table])}) FROM STDIN"
            ) as copy:
                for row in data[table]:
                    copy.write_row(row)
        for table, col in INDEXES:
            conn.execute(f"CREATE INDEX ix_{table}_{col} ON {table}({col})")
        conn.execute("ANALYZE")
