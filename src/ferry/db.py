"""Engine and sessions. ``unit_of_work()`` is the one place that commits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from ferry.settings import get_settings

_engines: dict[str, Engine] = {}
_factories: dict[Engine, sessionmaker[Session]] = {}


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # SQLAlchemy's "begin" event below opens transactions
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    # FULL: a commit is on disk before Ferry answers (WAL with NORMAL can lose the last commits
    # to a power cut or an OS crash, and an accepted request must never be lost).
    cur.execute("PRAGMA synchronous=FULL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    """Take SQLite's write lock when a transaction starts, so that concurrent writers queue
    (busy_timeout) instead of both reading the same audit head and colliding on its sequence."""
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def get_engine(url: str | None = None) -> Engine:
    """One engine per URL for the life of the process."""
    url = url or get_settings().db_url
    if url not in _engines:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False})
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        _engines[url] = engine
    return _engines[url]


def dispose_engines() -> None:
    for engine in _engines.values():
        engine.dispose()
    _engines.clear()
    _factories.clear()


def session_factory(url: str | None = None) -> sessionmaker[Session]:
    """One factory per engine: each ``sessionmaker`` makes a class of its own, and SQLAlchemy
    sets up event dispatch per class, so a factory per transaction cost ~0.1 ms each time."""
    engine = get_engine(url)
    factory = _factories.get(engine)
    if factory is None:
        factory = _factories[engine] = sessionmaker(engine, expire_on_commit=False)
    return factory


@contextmanager
def unit_of_work(url: str | None = None) -> Iterator[Session]:
    """A transaction: commits when the block ends, rolls back on any error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
