"""A SQL system walked in the calling thread still keeps its time limit: the database stops
a statement that runs past it (SQLite: progress handler; PostgreSQL: statement_timeout)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ferry.collect.datamap import DataMap
from ferry.collect.engine import Collection, Person, Source
from ferry.connectors.registry import open_connector
from ferry.connectors.sql import SqlConnector, dispose_shared, shared_engine
from ferry.domain.models import Identity, IdentityType

ALICE = Identity(IdentityType.EMAIL, "alice@example.com")


def _map(timeout: float, table: str = "people") -> DataMap:
    people = {"table": table, "primary_key": "id", "identities": {"email": "email"}}
    return DataMap.model_validate(
        {
            "system": "slow",
            "datasets": {"people": people},
            "collection": {"timeout_seconds": timeout, "retries": 0},
        }
    )


def _run(
    url: str, tmp: Path, timeout: float, table: str = "people"
) -> tuple[str, str | None, float]:
    engine = Collection(
        [Source("slow", _map(timeout, table), lambda: open_connector(url))],
        [Person("r", [ALICE])],
        tmp / "work",
        backoff_seconds=0,
    )
    start = time.monotonic()
    outcome = engine.run()["slow"]
    return outcome.status, outcome.error, time.monotonic() - start


@pytest.fixture
def slow_sqlite(tmp_path: Path) -> str:
    """A view that makes a lookup scan 10^9 generated rows (minutes) unless stopped."""
    path = tmp_path / "slow.db"
    con = sqlite3.connect(path)
    con.execute(
        "CREATE VIEW people AS WITH RECURSIVE c(x) AS "
        "(SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
        "SELECT x AS id, 'p' || x || '@example.com' AS email FROM c"
    )
    con.close()
    return f"sqlite:///{path}"


def test_sqlite_statement_past_the_deadline_is_stopped(slow_sqlite: str, tmp_path: Path) -> None:
    assert SqlConnector(slow_sqlite).limit_time(1.0) is True
    status, error, took = _run(slow_sqlite, tmp_path, 0.5)
    assert status == "failed"
    assert error == "system 'slow' did not finish within 0.5 s"
    assert took < 20  # stopped by the database, not after the scan


def test_a_fast_system_is_not_marked_as_timed_out(tmp_path: Path) -> None:
    path = tmp_path / "ok.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT)")
    con.execute("INSERT INTO people VALUES (1, 'alice@example.com'), (2, 'bob@example.com')")
    con.commit()
    con.close()
    status, error, _took = _run(f"sqlite:///{path}", tmp_path, 30)
    assert (status, error) == ("done", None)


@pytest.fixture
def slow_pg(pg_database: str) -> Iterator[str]:
    db = sa.create_engine(pg_database)
    with db.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE VIEW people AS SELECT g AS id, 'p' || g || '@example.com' AS email "
                "FROM generate_series(1, 2000000000) AS g"
            )
        )
        conn.execute(sa.text("CREATE TABLE quick (id INTEGER PRIMARY KEY, email TEXT)"))
        conn.execute(sa.text("INSERT INTO quick VALUES (1, 'alice@example.com')"))
    db.dispose()
    try:
        yield pg_database
    finally:
        dispose_shared()  # the connector's pooled connections, before the database is dropped


@pytest.mark.postgres
def test_postgres_statement_past_the_deadline_is_stopped(slow_pg: str, tmp_path: Path) -> None:
    status, error, took = _run(slow_pg, tmp_path, 0.5)
    assert status == "failed"
    assert error == "system 'slow' did not finish within 0.5 s"
    assert took < 20
    assert _run(slow_pg, tmp_path / "again", 30, table="quick")[:2] == ("done", None)
    # the pooled connection went back without the walk's statement_timeout
    engine, _tables = shared_engine(slow_pg)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "0"


def _people_db(path: Path, email: str) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, note TEXT)")
    con.execute("INSERT INTO people VALUES (1, ?, ?)", (email, path.name))
    con.commit()
    con.close()


def test_a_pooled_sqlite_connection_follows_a_replaced_file(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    _people_db(live, ALICE.value)
    url = f"sqlite:///{live}"

    def notes() -> list[object]:
        engine = Collection(
            [Source("slow", _map(30), lambda: open_connector(url))],
            [Person("r", [ALICE])],
            tmp_path / f"work-{uuid.uuid4().hex}",
            backoff_seconds=0,
        )
        assert engine.run()["slow"].status == "done"
        return [r["note"] for d in engine.datasets(engine.people["r"]) for r in d.rows]

    try:
        assert notes() == ["live.db"]
        assert notes() == ["live.db"]  # the pooled connection, reused
        fresh = tmp_path / "fresh.db"
        _people_db(fresh, ALICE.value)
        fresh.replace(live)  # the client swaps in a new file
        assert notes() == ["fresh.db"]
        live.unlink()
        engine = Collection(
            [Source("slow", _map(30), lambda: open_connector(url))],
            [Person("r", [ALICE])],
            tmp_path / "gone",
            backoff_seconds=0,
        )
        outcome = engine.run()["slow"]
        assert outcome.status == "failed" and "unable to open" in (outcome.error or "")
    finally:
        dispose_shared()


@pytest.mark.postgres
def test_a_pooled_postgres_connection_keeps_each_walks_own_limit(
    slow_pg: str, tmp_path: Path
) -> None:
    """Walks share pooled connections in autocommit mode with a session statement_timeout:
    a long limit left by one walk must not let the next, shorter one overrun, and a short
    one must not cut the next, longer one."""
    assert _run(slow_pg, tmp_path / "a", 30, table="quick")[:2] == ("done", None)
    status, error, took = _run(slow_pg, tmp_path / "b", 0.5)
    assert (status, error) == ("failed", "system 'slow' did not finish within 0.5 s")
    assert took < 20
    assert _run(slow_pg, tmp_path / "c", 30, table="quick")[:2] == ("done", None)
    engine, _tables = shared_engine(slow_pg)
    with engine.connect() as conn:  # not a walk: the server's default again
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "0"
        assert conn.execute(sa.text("SHOW transaction_read_only")).scalar() == "on"


@pytest.mark.postgres
def test_a_streamed_postgres_result_then_more_lookups(slow_pg: str, tmp_path: Path) -> None:
    """More rows than a batch are streamed through a server-side cursor, which needs a
    transaction; lookups after it on the same connection still work and stay read-only."""
    db = sa.create_engine(slow_pg, isolation_level="AUTOCOMMIT")
    with db.connect() as conn:
        conn.execute(sa.text("CREATE TABLE many (id INTEGER PRIMARY KEY, email TEXT)"))
        conn.execute(
            sa.text("INSERT INTO many SELECT g, 'alice@example.com' FROM generate_series(1, 25) g")
        )
    db.dispose()
    ds = _map(30, table="many").datasets["people"]
    conn = SqlConnector(f"{slow_pg}", shared=True)
    conn.config.batch_size = 10
    assert conn.limit_time(30) is True
    try:
        assert [r["id"] for r in conn.fetch(ds, "email", ["alice@example.com"])] == list(
            range(1, 26)
        )
        assert [r["id"] for r in conn.fetch(ds, "id", [3, 24])] == [3, 24]
        raw = conn._connection().connection.dbapi_connection
        with pytest.raises(Exception, match="read-only"):
            raw.cursor().execute("INSERT INTO many VALUES (99, 'x')")
    finally:
        conn.close()
