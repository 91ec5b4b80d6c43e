"""Read-only connector for any database SQLAlchemy can reach (SQLite, PostgreSQL, MySQL, ...).

Only parameterised ``SELECT ... WHERE column IN (...)`` statements are issued, in batches,
on connections put in read-only mode. Lookup values are first coerced to the column's type;
values that cannot be of that type (``"1 OR 1=1"`` for an integer key) are dropped, so they
neither match rows nor make the database raise.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from itertools import repeat
from math import ceil
from operator import itemgetter
from pathlib import Path
from time import monotonic
from typing import Any
from urllib.parse import quote, unquote

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, NoSuchTableError, SQLAlchemyError
from sqlalchemy.pool import NullPool, QueuePool

from ferry.collect.datamap import DataMap, DatasetMap
from ferry.collect.scan import ColumnInfo, TableInfo
from ferry.connectors.base import ConnectorError, Row

_SKIP = object()
_TYPE_CODE = itemgetter(1)  # of a cursor.description entry
_INT = re.compile(r"[+-]?[0-9]{1,19}")
_MAX_INT = 2**63 - 1
_TIMEOUT_SLACK = 1.0  # seconds a statement may outlive the deadline on PostgreSQL
_PLAIN = (str, int, float, bool, Decimal, date, datetime, time, timedelta, bytes, list, dict)


class SqlConnectorConfig(BaseModel):
    """Settings of a SQL client system."""

    model_config = ConfigDict(extra="forbid")

    url: str
    batch_size: int = Field(default=500, ge=1, le=10_000)


def readonly_url(url: str | URL) -> URL:
    """For a SQLite file, the ``file:...?mode=ro`` URI form; other URLs unchanged."""
    parsed = make_url(url)
    db = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or db in ("", ":memory:") or db.startswith("file:"):
        return parsed
    path = quote(str(Path(db).resolve()))
    return parsed.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})


def _session_readonly_sql(backend: str) -> str | None:
    return {
        "postgresql": "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
        "mysql": "SET SESSION TRANSACTION READ ONLY",
        "mariadb": "SET SESSION TRANSACTION READ ONLY",
        "sqlite": "PRAGMA query_only = ON",
    }.get(backend)


def create_readonly_engine(url: str | URL, pre_ping: bool = True) -> Engine:
    """An engine whose every new connection is put in read-only mode.

    SQLite files are pooled too (opening one and reading its schema costs more than a
    person's lookups), but a pooled connection is only reused while the path still names the
    same file: one the client has since replaced (a new inode) is closed and opened afresh.
    """
    target = readonly_url(url)
    path = _sqlite_path(target)
    if target.get_backend_name() == "sqlite" and path is None:
        engine = sa.create_engine(target, poolclass=NullPool)
    elif path is not None:
        engine = sa.create_engine(
            target, poolclass=QueuePool, pool_size=4, connect_args={"check_same_thread": False}
        )
        _reopen_when_replaced(engine, path)
    else:
        engine = sa.create_engine(target, pool_pre_ping=pre_ping, pool_recycle=1800)
    if target.get_backend_name() == "postgresql":
        _timeout_reset(engine)
    statement = _session_readonly_sql(target.get_backend_name())
    if statement:

        @sa.event.listens_for(engine, "connect")
        def _readonly(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute(statement)
            finally:
                cursor.close()
            dbapi_conn.commit()

    return engine


_TIMEOUT_KEY = "ferry_statement_timeout_ms"
_PG_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE
_WALKING = threading.local()


def _timeout_reset(engine: Engine) -> None:
    """A pooled PostgreSQL connection a walk left with its own ``statement_timeout`` (see
    ``SqlConnector._statement_timeout``) gets the server's default back when anything but
    a walk checks it out, so no other use inherits a walk's time limit."""

    @sa.event.listens_for(engine, "checkout")
    def _reset(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.get(_TIMEOUT_KEY) is None or getattr(_WALKING, "active", False):
            return
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True  # a session setting, not undone by a rollback
        try:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SET statement_timeout = DEFAULT")
            finally:
                cursor.close()
        finally:
            dbapi_conn.autocommit = autocommit
        del record.info[_TIMEOUT_KEY]


def _sqlite_path(target: URL) -> str | None:
    """The file of a SQLite URL in the ``file:`` form :func:`readonly_url` gives, else None."""
    db = target.database or ""
    if target.get_backend_name() != "sqlite" or not db.startswith("file:"):
        return None
    return unquote(db.removeprefix("file:").split("?", 1)[0]) or None


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _reopen_when_replaced(engine: Engine, path: str) -> None:
    @sa.event.listens_for(engine, "connect")
    def _remember(_dbapi_conn: Any, record: Any) -> None:
        record.info["ferry_file"] = _file_identity(path)

    @sa.event.listens_for(engine, "checkout")
    def _same_file(_dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        if record.info.get("ferry_file") != _file_identity(path):
            raise DisconnectionError("the database file was replaced")  # the pool reconnects

    @sa.event.listens_for(engine, "checkin")
    def _forget_deadline(dbapi_conn: Any, _record: Any) -> None:
        if dbapi_conn is not None:
            dbapi_conn.set_progress_handler(None, 0)


def _coerce_int(value: object) -> object:
    if isinstance(value, bool):
        return _SKIP
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        value = int(value.strip())
    elif isinstance(value, float | Decimal):
        number = Decimal(str(value))
        if not number.is_finite() or number != number.to_integral_value():
            return _SKIP
        value = int(number)
    if isinstance(value, int) and -_MAX_INT <= value <= _MAX_INT:
        return value
    return _SKIP


def _coerce_decimal(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return _SKIP
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return _SKIP
    return number if number.is_finite() else _SKIP


def _coerce_str(value: object) -> object:
    if isinstance(value, str):
        return value if "\x00" not in value else _SKIP
    if isinstance(value, int | Decimal | uuid.UUID) and not isinstance(value, bool):
        return str(value)
    return _SKIP


def _coerce_temporal(value: object, kind: type[date]) -> object:
    if isinstance(value, kind) and (kind is datetime or not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return kind.fromisoformat(value.strip())
        except ValueError:
            return _SKIP
    return _SKIP


def coerce(value: object, kind: type | None) -> object:
    """``value`` as the column's Python type, or ``_SKIP`` when it cannot be one."""
    if value is None:
        return _SKIP
    if kind is int:
        return _coerce_int(value)
    if kind is Decimal or kind is float:
        return _coerce_decimal(value)
    if kind is str:
        return _coerce_str(value)
    if kind is datetime or kind is date:
        return _coerce_temporal(value, kind)
    if kind is uuid.UUID:
        try:
            return uuid.UUID(str(value))
        except ValueError:
            return _SKIP
    if kind is None:
        return value if isinstance(value, str | int | float | Decimal | bytes) else _SKIP
    return value if isinstance(value, kind) else _SKIP


_EXACT = frozenset({type(None), str, int, float, bool, Decimal, date, datetime, time, bytes})


def plain(value: object) -> object:
    """A database value as plain Python (dates, decimals and bytes stay Python objects)."""
    if type(value) in _EXACT or isinstance(value, _PLAIN):
        return value
    if isinstance(value, memoryview | bytearray):
        return bytes(value)
    return str(value)


def _dicts(
    names: list[str], rows: Sequence[Sequence[Any]], convert: list[tuple[int, Any]] | None = None
) -> list[Row]:
    """Database rows as ``{column: value}``, each value converted by its column's processor
    (``convert``: ``(index, processor)`` pairs) and made plain Python (see :func:`plain`)."""
    exact = _EXACT.issuperset
    found: list[Row] = []
    for row in rows:
        if convert is not None:
            row = list(row)
            for i, proc in convert:
                row[i] = proc(row[i])
        if exact(map(type, row)):  # the usual case: nothing to make plain
            found.append(dict(zip(names, row, strict=True)))
        else:
            found.append(dict(zip(names, map(plain, row), strict=True)))
    return found


def batched(items: list[object], size: int) -> Iterator[list[object]]:
    """Consecutive chunks of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _python_type(column: sa.Column[Any]) -> type | None:
    try:
        kind: type = column.type.python_type
    except NotImplementedError:
        return None
    return kind


def _split(table: str) -> tuple[str | None, str]:
    schema, _, name = table.rpartition(".")
    return (schema or None), name


def _reason(err: SQLAlchemyError) -> str:
    """The driver's message without the SQL and parameters (they may hold personal data)."""
    if isinstance(err, DBAPIError) and err.orig is not None:
        return f"{type(err.orig).__name__}: {str(err.orig).strip().splitlines()[0]}"
    return type(err).__name__


# (database, driver) pairs whose cursors _fast_batches and limit_time know
_FAST = frozenset({("sqlite", "pysqlite"), ("postgresql", "psycopg")})


class _Prepared:
    """One compiled lookup statement (see :meth:`SqlConnector._fast_batches`)."""

    def __init__(self, compiled: Any, slots: int, key: sa.Column[Any], dialect: Any) -> None:
        self.sql: str = compiled.string
        self.slots = slots
        values = [f"v{i}" for i in range(slots)]
        self.fixed = dict(compiled.params)  # the values' slots, and the LIMIT if any
        self.order: list[str] | None = list(compiled.positiontup) if compiled.positional else None
        self.names = list(compiled.statement.selected_columns.keys())
        self.types = [c.type for c in compiled.statement.selected_columns]
        self.bind = key.type.dialect_impl(dialect).bind_processor(dialect)
        self._converters: tuple[Any, list[tuple[int, Any]] | None] | None = None
        # positional, the values in order and nothing else (SQLite): the list as it is
        self.as_given = self.order == values and self.fixed.keys() == set(values)

    def params(self, values: list[object]) -> Any:
        if self.as_given:
            return values
        named = dict(self.fixed)
        named.update({f"v{i}": v for i, v in enumerate(values)})
        return named if self.order is None else [named[n] for n in self.order]

    def converters(self, dialect: Any, description: Any) -> list[tuple[int, Any]] | None:
        """SQLAlchemy's result processors, as ``(column index, processor)`` for the columns
        that have one (None when none converts)."""
        coltypes = tuple(map(_TYPE_CODE, description or ()))
        if self._converters is None or self._converters[0] != coltypes:
            procs = [
                t.dialect_impl(dialect).result_processor(dialect, c)
                for t, c in zip(self.types, coltypes, strict=True)
            ]
            pairs = [(i, proc) for i, proc in enumerate(procs) if proc]
            self._converters = (coltypes, pairs or None)
        return self._converters[1]


class _Lookup:
    """What looking a table up by one column needs, worked out once per table, column and
    selected columns (cached on the table, see :meth:`SqlConnector._lookup`)."""

    def __init__(
        self, table: sa.Table, key: sa.Column[Any], base: sa.Select[Any], ordered: bool
    ) -> None:
        self.table = table
        self.key = key
        self.kind = _python_type(key)
        self.base = base
        self.ordered = ordered  # by the whole primary key
        self._prepared: dict[tuple[str, int, int | None], _Prepared] = {}

    def prepared(self, dialect: Any, slots: int, limit: int | None) -> _Prepared:
        """The statement for ``slots`` values, compiled once."""
        ident = (dialect.name, slots, limit)
        found = self._prepared.get(ident)
        if found is None:
            binds = [sa.bindparam(f"v{i}", type_=self.key.type) for i in range(slots)]
            statement = self.base.where(self.key.in_(binds))
            if limit is not None:
                statement = statement.limit(limit)
            compiled = statement.compile(dialect=dialect)
            found = self._prepared[ident] = _Prepared(compiled, slots, self.key, dialect)
        return found


def _driver_reason(err: BaseException) -> str:
    """The driver's message, first line only (later lines may quote the SQL's values)."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


_SHARED: dict[str, tuple[Engine, dict[str, sa.Table], str | None]] = {}
_SHARED_LOCK = threading.Lock()
_REFLECTED: dict[str, dict[str, sa.Table]] = {}


def shared_engine(url: str) -> tuple[Engine, dict[str, sa.Table]]:
    """One read-only engine (connection pool) and table cache per URL for the whole process,
    so a request does not pay for connecting and reflecting tables again."""
    engine, tables, _file = _shared(url)
    return engine, tables


def _shared(url: str) -> tuple[Engine, dict[str, sa.Table], str | None]:
    """:func:`shared_engine`, and the SQLite file whose connections each thread keeps."""
    with _SHARED_LOCK:
        if url not in _SHARED:
            # no ping per checkout (a round trip per lookup): a dead pooled connection fails
            # the lookup, is invalidated, and the engine's retry gets a fresh one
            engine = create_readonly_engine(url, pre_ping=False)
            _SHARED[url] = (engine, {}, _sqlite_path(engine.url))
        return _SHARED[url]


def dispose_shared() -> None:
    """Close every shared pool and this thread's kept SQLite connections (tests, shutdown);
    other threads close theirs the next time they look (see :class:`_Kept`)."""
    global _KEPT_GENERATION
    with _SHARED_LOCK:
        for engine, _tables, _file in _SHARED.values():
            engine.dispose()
        _SHARED.clear()
        _REFLECTED.clear()
        _KEPT_GENERATION += 1
    _KEPT.close_all()


_KEEP_FILES = 8  # SQLite files a thread keeps a connection to, the most recently used
_KEPT_GENERATION = 0


class _Kept(threading.local):
    """This thread's read-only connections to SQLite files, kept open between collections.

    Checking a connection out of the pool and back in (events, a rollback, a ``Connection``
    object) cost more than a person's four lookups on a busy machine. A SQLite connection
    holds no server resource (a file handle and its page cache), so each thread keeps its
    own, detached from the pool (the pool's size never limits them, and they never wait for
    one another), for at most ``_KEEP_FILES`` files. One is used again only while its path
    still names the same file (the client may swap in a new one) and after nothing else has
    disposed of the shared pools; otherwise it is closed and a fresh one opened.
    """

    def __init__(self) -> None:
        self.conns: dict[str, tuple[sa.Connection, tuple[int, int] | None, int]] = {}

    def take(self, url: str, path: str) -> sa.Connection | None:
        """The kept connection for ``url`` if still good, now held by the caller."""
        found = self.conns.pop(url, None)
        if found is None:
            return None
        conn, identity, generation = found
        if generation == _KEPT_GENERATION and identity == _file_identity(path):
            return conn
        _close_quietly(conn)
        return None

    def give_back(self, url: str, path: str, conn: sa.Connection) -> None:
        """Keep ``conn`` for the next collection on this thread (or close it)."""
        if conn.closed or conn.invalidated or url in self.conns:
            _close_quietly(conn)
            return
        try:
            raw = conn.connection.dbapi_connection
            raw.set_progress_handler(None, 0)  # type: ignore[union-attr]  # the walk's deadline
            if conn.in_transaction():
                conn.rollback()
        except SQLAlchemyError:
            _close_quietly(conn)
            return
        self.conns[url] = (conn, _file_identity(path), _KEPT_GENERATION)
        while len(self.conns) > _KEEP_FILES:
            oldest = next(iter(self.conns))
            _close_quietly(self.conns.pop(oldest)[0])

    def close_all(self) -> None:
        conns, self.conns = self.conns, {}
        for conn, _identity, _generation in conns.values():
            _close_quietly(conn)


_KEPT = _Kept()


def _close_quietly(conn: sa.Connection) -> None:
    with contextlib.suppress(SQLAlchemyError):
        conn.close()


class SqlConnector:
    """Reads mapped tables of one SQL database, read-only and in batches.

    ``shared=True`` uses the process-wide pool and table cache for the URL (what collection
    uses); otherwise the connector has its own engine, disposed on ``close()``.
    """

    def __init__(self, config: SqlConnectorConfig | str, *, shared: bool = False) -> None:
        self.config = SqlConnectorConfig(url=config) if isinstance(config, str) else config
        self.shared = shared
        self._file: str | None = None  # a SQLite file: connections kept per thread (_Kept)
        if shared:
            self.engine, self._tables, self._file = _shared(self.config.url)
        else:  # own engine; reflected tables still shared (reflecting costs ms per table)
            self.engine = create_readonly_engine(self.config.url)
            with _SHARED_LOCK:
                self._tables = _REFLECTED.setdefault(self.config.url, {})
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: list[sa.Connection] = []
        self._kept: list[sa.Connection] = []  # taken from _KEPT, given back on close()
        self._deadline: float | None = None  # time.monotonic() by which statements must end
        self._errors: tuple[type[BaseException], ...] = (SQLAlchemyError, *self._driver_error())

    def limit_time(self, seconds: float) -> bool:
        """Make every statement from now on end within ``seconds``; False when this kind of
        database cannot be told to (the engine then waits for it from another thread).

        SQLite: a progress handler interrupts a statement past the deadline. PostgreSQL:
        ``statement_timeout`` (waiting for locks included) for the connection's transaction, set
        again now and then on a long walk so no statement outlives the deadline by much.
        """
        if (self.engine.dialect.name, self.engine.dialect.driver) not in _FAST:
            return False
        self._deadline = monotonic() + seconds
        conn: sa.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.closed:  # already out: it gets the deadline too
            self._watch(conn, self._deadline)
        return True

    @staticmethod
    def _watch(conn: sa.Connection, deadline: float) -> None:
        """SQLite: interrupt any statement still running at ``deadline``."""
        if conn.dialect.name == "sqlite":
            raw = conn.connection.dbapi_connection
            raw.set_progress_handler(lambda: int(monotonic() > deadline), 10_000)  # type: ignore[union-attr]

    def unique_key(self, dataset: DatasetMap, column: str) -> bool:
        """Whether ``column`` alone is the primary key constraint of the dataset's table, as
        reflected from the database (a view, or a table without one, is not)."""
        table = self._tables.get(dataset.table)
        if table is None:
            return False
        return [c.name for c in table.primary_key.columns] == [column]

    @property
    def safe_url(self) -> str:
        return make_url(self.config.url).render_as_string(hide_password=True)

    def _table(self, conn: sa.Connection, dataset: DatasetMap) -> sa.Table:
        if dataset.table not in self._tables:
            schema, name = _split(dataset.table)
            try:
                table = sa.Table(name, sa.MetaData(), schema=schema, autoload_with=conn)
            except NoSuchTableError:
                raise ConnectorError(
                    f"dataset {dataset.name!r}: table {dataset.table!r} not found"
                ) from None
            self._tables[dataset.table] = table
        return self._tables[dataset.table]

    def _column(self, table: sa.Table, dataset: DatasetMap, name: str) -> sa.Column[Any]:
        column = table.c.get(name)
        if column is None:
            raise ConnectorError(
                f"dataset {dataset.name!r}: column {name!r} not in table {dataset.table!r}"
            )
        return column

    def _lookup(self, table: sa.Table, dataset: DatasetMap, column: str) -> _Lookup:
        """Looking ``table`` up by ``column``, worked out once per table, column and
        selected columns (a table reflected again starts afresh)."""
        wanted = dataset.columns_needed() if dataset.fields_only else None
        ident = (column, None if wanted is None else tuple(wanted), *dataset.primary_key)
        cache: dict[tuple[Any, ...], _Lookup] = table.info.setdefault("ferry_lookups", {})
        found = cache.get(ident)
        if found is None:
            key = self._column(table, dataset, column)
            cols = (
                list(table.c)
                if wanted is None
                else [self._column(table, dataset, c) for c in wanted]
            )
            keys = dataset.primary_key
            order = [table.c[k] for k in keys if k in table.c]
            ordered = bool(keys) and len(order) == len(keys)
            base = sa.select(*cols).order_by(*order)
            found = cache[ident] = _Lookup(table, key, base, ordered)
        return found

    def fetch(self, dataset: DatasetMap, column: str, values: Sequence[object]) -> Iterator[Row]:
        """Yield rows whose ``column`` is one of ``values`` (batched, streamed)."""
        errors = self._errors
        try:
            for batch in self._batches(self._connection(), dataset, column, values):
                yield from batch
        except errors as err:
            self._drop_connection()
            reason = _reason(err) if isinstance(err, SQLAlchemyError) else _driver_reason(err)
            raise ConnectorError(
                f"reading dataset {dataset.name!r} from {self.safe_url} failed: {reason}"
            ) from None

    def _driver_error(self) -> tuple[type[BaseException], ...]:
        """The driver's own error class (what :meth:`_fast_batches` may raise)."""
        dbapi = getattr(self.engine.dialect, "loaded_dbapi", None)
        error = getattr(dbapi, "Error", None)
        return (error,) if isinstance(error, type) and issubclass(error, Exception) else ()

    def _connection(self) -> sa.Connection:
        """One connection per thread for the connector's life (a walk makes many lookups)."""
        conn: sa.Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._local.conn = self._checkout()
            self._local.timeout_set = None
            if self._deadline is not None:
                self._watch(conn, self._deadline)
        if self._deadline is not None and conn.dialect.name == "postgresql":
            self._statement_timeout(conn, self._deadline)
        return conn

    def _statement_timeout(self, conn: sa.Connection, deadline: float) -> None:
        """Make the next statements end by ``deadline`` (give or take ``_TIMEOUT_SLACK``).

        Outside a transaction (the usual case) the connection is put in autocommit mode, so
        a person's lookups cost no BEGIN and no ROLLBACK when it goes back to the pool (each
        SELECT is its own read-only transaction: at READ COMMITTED each statement had its own
        snapshot anyway), and the session's ``statement_timeout`` is set to the time left
        plus half the slack, only when its current value is not already within
        ``[time left, time left + slack]``: walks with the same time limit one after another
        on a pooled connection set it once. Inside a transaction (after a streamed result,
        which needs one) ``SET LOCAL`` is renewed as before.
        """
        raw = conn.connection.dbapi_connection
        now = monotonic()
        left = (deadline - now) * 1000
        if raw is not None and raw.info.transaction_status == _PG_IDLE:
            if not raw.autocommit:
                raw.autocommit = True
            info = conn.connection.info
            current = info.get(_TIMEOUT_KEY)
            if current is not None and left <= current <= left + _TIMEOUT_SLACK * 1000:
                return
            value = ceil(left + _TIMEOUT_SLACK * 500)
            cursor = raw.cursor()
            try:
                cursor.execute(f"SET statement_timeout = {value:d}")
            finally:
                cursor.close()
            info[_TIMEOUT_KEY] = value
            return
        last: float | None = self._local.timeout_set
        if last is not None and now - last < _TIMEOUT_SLACK:
            return
        left = max(1, ceil((deadline - now) * 1000))
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(f"SET LOCAL statement_timeout = {left:d}")
        finally:
            cursor.close()
        self._local.timeout_set = now

    def _checkout(self) -> sa.Connection:
        """A connection for this thread: the one it kept for this SQLite file, or one from
        the pool (detached from it and kept after this walk when it is a SQLite file)."""
        if self._file is not None:
            conn = _KEPT.take(self.config.url, self._file)
            if conn is None:
                conn = self.engine.connect()
                conn.detach()
            with self._lock:
                self._kept.append(conn)
            return conn
        _WALKING.active = True  # keep the statement_timeout a walk left (see _timeout_reset)
        try:
            conn = self.engine.connect()
        finally:
            _WALKING.active = False
        with self._lock:
            self._open.append(conn)
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            with contextlib.suppress(SQLAlchemyError):
                conn.invalidate()

    def _batches(
        self, conn: sa.Connection, dataset: DatasetMap, column: str, values: Sequence[object]
    ) -> Iterator[list[Row]]:
        """The rows, a batch (up to ``batch_size`` rows) at a time: one generator step per
        batch, not per row (a person's lookup is one batch)."""
        lookup = self._lookup(self._table(conn, dataset), dataset, column)
        kind = lookup.kind
        unique = [v for v in dict.fromkeys(map(coerce, values, repeat(kind))) if v is not _SKIP]
        dialect = conn.dialect
        fast = (dialect.name, dialect.driver) in _FAST and (
            lookup.ordered or dialect.name == "sqlite"
        )
        for chunk in batched(unique, self.config.batch_size):
            if fast:
                yield from self._fast_batches(conn, lookup, chunk)
            else:
                query = lookup.base.where(lookup.key.in_(chunk))
                yield from self._rows(conn, query, lookup.ordered)

    def _fast_batches(
        self, conn: sa.Connection, lookup: _Lookup, chunk: list[object]
    ) -> Iterator[list[Row]]:
        """:meth:`_rows` through the driver's own cursor, with a statement compiled once.

        The statement is SQLAlchemy's, compiled once per table, column and number of values
        (rounded up to a power of two, the last value repeated), with the same bound
        parameters and the same type conversions of values and results; only SQLAlchemy's
        per-call work (building, caching and result objects, ~0.1 ms a lookup) is skipped.
        """
        size = self.config.batch_size
        limited = conn.dialect.name != "sqlite"  # see _rows
        slots = 1 << (len(chunk) - 1).bit_length()
        prepared = lookup.prepared(conn.dialect, slots, size + 1 if limited else None)
        padded = [*chunk, *[chunk[-1]] * (slots - len(chunk))]
        if prepared.bind is not None:
            padded = [prepared.bind(v) for v in padded]
        params = prepared.params(padded)
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(prepared.sql, params)
            convert = prepared.converters(conn.dialect, cursor.description)
            count = 0
            while batch := cursor.fetchmany(size):
                yield _dicts(
                    prepared.names, batch if not limited else batch[: size - count], convert
                )
                count += len(batch)
                if len(batch) < size or (limited and count > size):
                    break  # the last batch (a short one), or more than a batch: streamed below
        finally:
            cursor.close()
        if limited and count > size:  # a big result: the rest streamed, as _rows does
            query = lookup.base.where(lookup.key.in_(chunk)).offset(size)
            yield from self._stream(conn, query)

    def _rows(
        self, conn: sa.Connection, query: sa.Select[Any], ordered: bool
    ) -> Iterator[list[Row]]:
        """A person's few rows in one round trip; a big result streamed (server-side cursor).

        The first ``batch_size`` rows are read plainly; only when there are more is the rest
        streamed, from that offset (rows are ordered by primary key, so the offset is stable).
        """
        size = self.config.batch_size
        # SQLite has no round trips to save, and "ORDER BY pk LIMIT n" tempts its planner
        # into scanning the whole table in key order instead of using the lookup's index
        if ordered and conn.dialect.name != "sqlite":
            result = conn.execute(query.limit(size + 1))
            names = list(result.keys())
            first = result.all()
            yield _dicts(names, first[:size])
            if len(first) <= size:
                return
            query = query.offset(size)
        yield from self._stream(conn, query)

    def _stream(self, conn: sa.Connection, query: sa.Select[Any]) -> Iterator[list[Row]]:
        size = self.config.batch_size
        raw = conn.connection.dbapi_connection
        if conn.dialect.name == "postgresql" and getattr(raw, "autocommit", False):
            raw.autocommit = False  # type: ignore[union-attr]  # a server-side cursor needs a transaction
            self._local.timeout_set = None
        # per statement: Connection.execution_options() would change the connection for good
        result = conn.execute(query, execution_options={"yield_per": size})
        names = list(result.keys())
        for part in result.partitions():
            yield _dicts(names, part)

    def check(self, datamap: DataMap | None = None) -> list[str]:
        """Problems reaching the database or, given a map, its missing tables and columns."""
        self._tables.clear()  # the schema may have changed: reflect again
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.select(1))
                if datamap is None:
                    return []
                return self._check_map(sa.inspect(conn), datamap)
        except SQLAlchemyError as err:
            return [f"cannot read {self.safe_url}: {_reason(err)}"]

    @staticmethod
    def _check_map(inspector: sa.Inspector, datamap: DataMap) -> list[str]:
        problems = []
        for ds in datamap.datasets.values():
            schema, name = _split(ds.table)
            if not inspector.has_table(name, schema=schema):
                problems.append(f"dataset {ds.name!r}: table {ds.table!r} not found")
                continue
            have = {c["name"] for c in inspector.get_columns(name, schema=schema)}
            needed = dict.fromkeys([*ds.key_columns(), *ds.fields])
            missing = [c for c in needed if c not in have]
            if missing:
                cols = ", ".join(repr(c) for c in missing)
                problems.append(f"dataset {ds.name!r}: table {ds.table!r} has no column {cols}")
        return problems

    def describe(self, sample: int = 30) -> list[TableInfo]:
        """Tables, columns, keys and up to ``sample`` values per column (read-only)."""
        try:
            with self.engine.connect() as conn:
                inspector = sa.inspect(conn)
                return [
                    self._describe(conn, inspector, name, sample)
                    for name in sorted(inspector.get_table_names())
                ]
        except SQLAlchemyError as err:
            raise ConnectorError(
                f"cannot read the schema of {self.safe_url}: {_reason(err)}"
            ) from None

    @staticmethod
    def _describe(
        conn: sa.Connection, inspector: sa.Inspector, name: str, sample: int
    ) -> TableInfo:
        columns = inspector.get_columns(name)
        table = sa.Table(name, sa.MetaData(), *(sa.Column(c["name"]) for c in columns))
        rows = conn.execute(sa.select(table).limit(sample)).all() if sample else []
        infos = [
            ColumnInfo(c["name"], str(c["type"]), [plain(r[i]) for r in rows])
            for i, c in enumerate(columns)
        ]
        keys = list(inspector.get_pk_constraint(name).get("constrained_columns") or [])
        fks = [
            (col, str(fk["referred_table"]), ref)
            for fk in inspector.get_foreign_keys(name)
            for col, ref in zip(fk["constrained_columns"], fk["referred_columns"], strict=False)
        ]
        return TableInfo(name, infos, keys, fks)

    def close(self) -> None:
        with self._lock:
            open_, self._open = self._open, []
            kept, self._kept = self._kept, []
        for conn in open_:
            _close_quietly(conn)  # back to the pool (its read-only transaction rolled back)
        for conn in kept:
            _KEPT.give_back(self.config.url, self._file or "", conn)
        if not self.shared:
            self.engine.dispose()
