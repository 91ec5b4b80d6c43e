"""The collection's fast paths give the same answers as the row-by-row ones."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import pytest

from ferry.collect import spool, walk
from ferry.collect.datamap import DataMap
from ferry.collect.engine import Collection, Person, Source
from ferry.connectors.testing import InMemoryConnector
from ferry.domain.models import Identity, IdentityType

ALICE = Identity(IdentityType.EMAIL, "alice@example.com")

LOG: dict[str, Any] = {
    "system": "app",
    "datasets": {
        "users": {"primary_key": "id", "identities": {"email": "email"}},
        "events": {"primary_key": "id", "references": [{"field": "user_id", "to": "users.id"}]},
    },
}


def _events(count: int) -> list[dict[str, object]]:
    """Alice's events, some with an extra column and some without a usual one (the shape of
    rows from files and APIs varies)."""
    rows: list[dict[str, object]] = []
    for i in range(count):
        row: dict[str, object] = {"id": i, "user_id": 1, "kind": "view"}
        if i % 7 == 3:
            row["note"] = f"note {i}"
        if i % 11 == 5:
            del row["kind"]
        rows.append(row)
    return rows


def test_gc_pause_restores_the_collector_even_on_errors() -> None:
    assert gc.isenabled()
    with pytest.raises(RuntimeError), spool.gc_paused():
        assert not gc.isenabled()
        raise RuntimeError("boom")
    assert gc.isenabled()
    with spool.gc_paused():
        with spool.gc_paused():
            pass
        assert not gc.isenabled()  # the inner pause does not re-enable it early
    assert gc.isenabled()
    gc.disable()
    try:
        with spool.gc_paused():
            pass
        assert not gc.isenabled()  # off before: left off
    finally:
        gc.enable()


@pytest.mark.parametrize(("batch", "chunk"), [(3, 4), (1000, 2000), (5, 1)])
def test_a_big_lookup_in_batches_keeps_every_row_and_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int, chunk: int
) -> None:
    monkeypatch.setattr(walk, "_CHECK_EVERY", batch)
    monkeypatch.setattr(spool, "_CHUNK_ROWS", chunk)
    events = _events(50)
    data = {"users": [{"id": 1, "email": ALICE.value}, {"id": 2, "email": "b@x.org"}]}
    data["events"] = [*events, {"id": 99, "user_id": 2, "kind": "other person"}]
    engine = Collection(
        [Source("app", DataMap.model_validate(LOG), lambda: InMemoryConnector(data))],
        [Person("r", [ALICE])],
        tmp_path / "work",
        backoff_seconds=0,
    )
    assert engine.run()["app"].status == "done"
    found = {d.dataset: d for d in engine.datasets(engine.people["r"])}
    assert list(found["events"].rows) == events
    assert len(found["events"].rows) == 50
    assert set(found["events"].categories) == {"id", "user_id", "kind", "note"}


def test_extend_spills_like_append(tmp_path: Path) -> None:
    rows = [{"n": i} for i in range(10)]
    one = spool.RowSpool(tmp_path / "a.spool", spill_rows=4)
    many = spool.RowSpool(tmp_path / "b.spool", spill_rows=4)
    for row in rows:
        one.append(row)
    many.extend(rows[:3])
    many.extend(rows[3:])
    assert list(one) == list(many) == rows
    assert one.count == many.count == 10
    assert many.on_disk


def test_a_small_package_built_in_memory_is_the_same_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    from ferry.crypto.signing import Signer
    from ferry.domain.models import DatasetRows
    from ferry.export import package
    from ferry.export.verify import verify_package

    meta = package.PackageMeta(
        tenant="acme",
        request_id="r1",
        created=datetime(2026, 1, 2, tzinfo=UTC),
        formats=("json", "csv", "html"),
    )
    rows = [{"id": i, "email": f"p{i}@example.com", "note": "<&>"} for i in range(40)]
    data = DatasetRows("crm", "customers", {"id": "user.unique_id"}, rows)
    signer = Signer.generate()
    small = package.write_package(tmp_path / "small.zip", [data], meta, signer)
    monkeypatch.setattr(package, "_IN_MEMORY_ROWS", 10)  # 40 rows: now written to disk
    big = package.write_package(tmp_path / "big.zip", [data], meta, signer)
    assert (tmp_path / "small.zip").read_bytes() == (tmp_path / "big.zip").read_bytes()
    assert small.sha256 == big.sha256 and small.size == big.size
    assert small.files == big.files
    assert verify_package(tmp_path / "small.zip").ok
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]


# --- a row's own primary key is not looked up again -------------------------------------

OWN_KEY: dict[str, Any] = {
    "system": "shop",
    "datasets": {
        "customers": {
            "primary_key": "id",
            "identities": {"email": "email", "customer_id": "id"},
        },
        "orders": {"primary_key": "id", "references": [{"field": "cid", "to": "customers.id"}]},
    },
}


def _shop_db(path: Path, key: str) -> str:
    import sqlite3

    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE customers (id INTEGER {key}, email TEXT)")
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, cid INTEGER)")
    con.executemany("INSERT INTO customers VALUES (?, ?)", [(7, "alice@example.com"), (8, "b@x")])
    con.executemany("INSERT INTO orders VALUES (?, ?)", [(1, 7), (2, 8), (3, 7)])
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def _collect_shop(url: str, tmp_path: Path, *ids: Identity) -> tuple[int, dict[str, list[Any]]]:
    from ferry.connectors.registry import open_connector

    engine = Collection(
        [Source("shop", DataMap.model_validate(OWN_KEY), lambda: open_connector(url))],
        [Person("r", [ALICE, *ids])],
        tmp_path / "work",
    )
    outcome = engine.run()["shop"]
    assert outcome.status == "done", outcome.error
    assert outcome.result is not None
    found = {
        d.dataset: sorted(r["id"] for r in d.rows) for d in engine.datasets(engine.people["r"])
    }
    return outcome.result.lookups, found


def test_a_found_rows_own_primary_key_is_not_looked_up_again(tmp_path: Path) -> None:
    url = _shop_db(tmp_path / "pk.db", "PRIMARY KEY")
    lookups, found = _collect_shop(url, tmp_path)
    assert found == {"customers": [7], "orders": [1, 3]}
    assert lookups == 2  # customers by email, orders by customer; not customers by id again


def test_without_an_enforced_key_the_lookup_still_runs(tmp_path: Path) -> None:
    """No primary key constraint: another row can match the id (here, one that differs only
    in case under a NOCASE column), so the lookup runs and finds it."""
    import sqlite3

    path = tmp_path / "nopk.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id TEXT COLLATE NOCASE, email TEXT)")
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, cid TEXT)")
    con.executemany("INSERT INTO customers VALUES (?, ?)", [("A1", ALICE.value), ("a1", "x@y")])
    con.commit()
    con.close()
    lookups, found = _collect_shop(f"sqlite:///{path}", tmp_path)
    assert found == {"customers": ["A1", "a1"]}  # no orders: an empty dataset has no columns
    assert lookups > 2  # customers by id ran (skipped, it would be 2 and "a1" missing)


def test_an_identity_given_by_the_person_is_still_looked_up(tmp_path: Path) -> None:
    """customer_id 8 was given, not found in a row: it is asked for (and finds its row)."""
    url = _shop_db(tmp_path / "given.db", "PRIMARY KEY")
    lookups, found = _collect_shop(url, tmp_path, Identity(IdentityType.CUSTOMER_ID, "8"))
    assert found == {"customers": [7, 8], "orders": [1, 2, 3]}
    # customers by email (alice), by id (8), by email again (8's address), orders by customer
    assert lookups == 4


def test_in_memory_connectors_without_unique_keys_look_up_as_before(tmp_path: Path) -> None:
    rows = {
        "customers": [{"id": 7, "email": "alice@example.com"}],
        "orders": [{"id": 1, "cid": 7}],
    }
    engine = Collection(
        [Source("shop", DataMap.model_validate(OWN_KEY), lambda: InMemoryConnector(rows))],
        [Person("r", [ALICE])],
        tmp_path / "work",
    )
    outcome = engine.run()["shop"]
    assert outcome.result is not None and outcome.result.lookups == 3


def test_spool_given_folder_and_name_uses_that_file_when_it_spills(tmp_path: Path) -> None:
    lazy = spool.RowSpool((tmp_path / "sys", "p.orders.spool"), spill_rows=2)
    lazy.extend([{"i": 1}])
    assert not lazy.on_disk and not (tmp_path / "sys").exists()  # a few rows: no file
    lazy.extend([{"i": 2}, {"i": 3}])
    lazy.commit()
    assert lazy.path == tmp_path / "sys" / "p.orders.spool" and lazy.path.is_file()
    assert list(lazy) == [{"i": 1}, {"i": 2}, {"i": 3}]
