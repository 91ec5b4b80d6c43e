"""Each thread keeps its read-only connection to a client's SQLite file between collections
(``sql._Kept``): reused while the file is the same, never carrying one walk's deadline or
a failed connection into the next, bounded in number, closed by ``dispose_shared``."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ferry.collect.datamap import DataMap
from ferry.connectors import sql
from ferry.connectors.base import ConnectorError
from ferry.connectors.registry import open_connector
from ferry.connectors.sql import SqlConnector, dispose_shared

MAP = DataMap.model_validate(
    {
        "system": "shop",
        "datasets": {
            "people": {"primary_key": "id", "identities": {"email": "email"}},
            "slow": {"primary_key": "id", "identities": {"email": "email"}},
            "moment": {"primary_key": "id", "identities": {"email": "email"}},
        },
    }
)
PEOPLE = MAP.datasets["people"]


def _db(path: Path, note: str = "first") -> str:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE people (id INTEGER PRIMARY KEY, email TEXT, note TEXT)")
    con.execute("INSERT INTO people VALUES (1, 'alice@example.com', ?)", (note,))
    con.execute(  # a lookup here runs for minutes unless something stops it
        "CREATE VIEW slow AS WITH RECURSIVE c(x) AS "
        "(SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000000) "
        "SELECT x AS id, 'p' || x || '@example.com' AS email FROM c"
    )
    con.execute(  # and here for a moment (a few hundred thousand rows)
        "CREATE VIEW moment AS WITH RECURSIVE c(x) AS "
        "(SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) "
        "SELECT x AS id, 'p' || x || '@example.com' AS email FROM c"
    )
    con.commit()
    con.close()
    return f"sqlite:///{path}"


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    dispose_shared()
    yield
    dispose_shared()


def _sql(url: str) -> SqlConnector:
    connector = open_connector(url)
    return connector


def _raw(connector: SqlConnector) -> object:
    return connector._connection().connection.dbapi_connection


def _notes(url: str) -> list[object]:
    connector = open_connector(url)
    try:
        return [r["note"] for r in connector.fetch(PEOPLE, "email", ["alice@example.com"])]
    finally:
        connector.close()


def test_the_next_collection_on_the_thread_reuses_the_connection(tmp_path: Path) -> None:
    url = _db(tmp_path / "shop.db")
    first = _sql(url)
    raw = _raw(first)
    first.close()
    second = _sql(url)
    assert _raw(second) is raw
    other = open_connector(url)  # while the second holds it, a third gets its own
    assert isinstance(other, SqlConnector)
    assert _raw(other) is not raw
    other.close()
    second.close()
    assert _notes(url) == ["first"]


def test_another_thread_has_its_own(tmp_path: Path) -> None:
    url = _db(tmp_path / "shop.db")
    mine = _sql(url)
    raw = _raw(mine)
    mine.close()
    seen: list[object] = []

    def elsewhere() -> None:
        theirs = _sql(url)
        seen.append(_raw(theirs))
        theirs.close()

    worker = threading.Thread(target=elsewhere)
    worker.start()
    worker.join()
    assert seen and seen[0] is not raw


def test_a_replaced_file_is_opened_afresh(tmp_path: Path) -> None:
    live = tmp_path / "live.db"
    url = _db(live, "old")
    assert _notes(url) == ["old"]
    fresh = tmp_path / "fresh.db"
    _db(fresh, "new")
    fresh.replace(live)
    assert _notes(url) == ["new"]


def test_a_walks_deadline_does_not_stay_with_the_connection(tmp_path: Path) -> None:
    url = _db(tmp_path / "shop.db")
    hurried = _sql(url)
    assert hurried.limit_time(0.2) is True
    assert [r["id"] for r in hurried.fetch(PEOPLE, "id", [1])] == [1]
    raw = _raw(hurried)
    hurried.close()
    time.sleep(0.3)  # that walk's deadline has passed
    patient = _sql(url)
    assert _raw(patient) is raw
    # a statement that needs a moment is not stopped by the old deadline
    rows = list(patient.fetch(MAP.datasets["moment"], "id", [20_000]))
    assert [r["id"] for r in rows] == [20_000]
    patient.close()


def test_a_statement_past_the_new_deadline_is_stopped_and_its_connection_dropped(
    tmp_path: Path,
) -> None:
    url = _db(tmp_path / "shop.db")
    assert _notes(url) == ["first"]  # a kept connection, without a handler
    again = _sql(url)
    raw = _raw(again)
    assert again.limit_time(0.2) is True
    started = time.monotonic()
    with pytest.raises(ConnectorError, match="interrupted"):
        list(again.fetch(MAP.datasets["slow"], "email", ["nobody@example.com"]))
    assert time.monotonic() - started < 20
    assert _raw(again) is not raw  # the walk's next lookup gets a fresh connection
    again.close()
    later = _sql(url)
    assert _raw(later) is not raw  # the failed one was not kept
    later.close()
    assert _notes(url) == ["first"]


def test_a_thread_keeps_connections_to_a_bounded_number_of_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql, "_KEEP_FILES", 2)
    urls = [_db(tmp_path / f"shop{i}.db") for i in range(3)]
    for url in urls:
        assert _notes(url) == ["first"]
    kept = sql._KEPT.conns
    assert list(kept) == [urls[1], urls[2]]  # the least recently used was closed
    assert _notes(urls[1]) == ["first"]
    assert list(kept) == [urls[2], urls[1]]


def test_dispose_closes_kept_connections(tmp_path: Path) -> None:
    url = _db(tmp_path / "shop.db")
    first = _sql(url)
    raw = _raw(first)
    first.close()
    dispose_shared()
    assert sql._KEPT.conns == {}
    with pytest.raises(sqlite3.ProgrammingError):
        raw.execute("SELECT 1")  # type: ignore[attr-defined]
    assert _notes(url) == ["first"]
