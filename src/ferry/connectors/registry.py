"""Pick the connector for a client system from its URL."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ferry.connectors.base import Connector
from ferry.connectors.files import FileConnector
from ferry.connectors.http import HttpConnector
from ferry.connectors.manual import SCHEME as MANUAL
from ferry.connectors.manual import ManualConnector
from ferry.connectors.sql import SqlConnector
from ferry.domain.errors import InvalidInput

Factory = Callable[[str], Connector]

CONNECTORS: dict[str, Factory] = {"sql": SqlConnector, "files": FileConnector}
"""Connector factories keyed by kind; each takes the system's URL."""

Options = dict[str, Any]
FullFactory = Callable[[str, Options, dict[str, str]], Connector]


def _sql(url: str, _connection: Options, credentials: dict[str, str]) -> Connector:
    return SqlConnector(_sql_url(make_url(url), credentials.get("password")), shared=True)


def _sql_url(parsed: URL, password: str | None) -> str:
    """The URL as SQLAlchemy renders it, with the credential's password when it has none."""
    if password and parsed.password is None:
        parsed = parsed.set(password=password)
    return parsed.render_as_string(hide_password=False)


@lru_cache(maxsize=512)
def _sql_target(url: str, password: str | None) -> str | None:
    """The SQL connector's URL for a system's SQLAlchemy URL, None for any other kind.

    Cached: parsing and rendering a URL cost more than a person's lookups on a busy machine.
    A cached URL may hold a password, as the key of the process-wide pool for it
    (``sql.shared_engine``) already does; neither ever leaves the process.
    """
    _kind, _target, parsed = _classify(url)
    return None if parsed is None else _sql_url(parsed, password)


FACTORIES: dict[str, FullFactory] = {
    "sql": _sql,
    "files": lambda url, connection, _creds: FileConnector(url, connection),
    "http": lambda url, connection, creds: HttpConnector(url, connection, creds),
    "manual": lambda _url, connection, _creds: ManualConnector(None, connection),
}
"""Factories taking (url, the map's ``connection`` settings, decrypted credentials)."""

_HINT = (
    "use a SQLAlchemy URL such as postgresql+psycopg://user@host/db, "
    "mysql+pymysql://user@host/db or sqlite:///path/to/file.db, a folder of files, "
    "or an https:// API base URL, "
    "or manual://OWNER-EMAIL for a system whose owner uploads the records"
)


def _sqlalchemy_url(url: str) -> URL | None:
    """The parsed URL if SQLAlchemy has a dialect for it."""
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        return None
    return parsed


def connector_kind(url: str) -> tuple[str, str]:
    """``(kind, normalised url)`` for a system URL, or ``InvalidInput`` saying what works."""
    kind, target, _parsed = _classify(url)
    return kind, target


def _classify(url: str) -> tuple[str, str, URL | None]:
    """:func:`connector_kind`, with the parsed URL of a SQLAlchemy URL (parsed once)."""
    url = url.strip()
    if url.startswith(MANUAL):
        return "manual", url, None
    if "://" not in url:
        path = Path(url)
        if path.is_file():
            return (
                "sql",
                URL.create("sqlite", database=str(path.resolve())).render_as_string(),
                None,
            )
        if path.is_dir():
            return "files", str(path.resolve()), None
        raise InvalidInput(f"{url!r} is neither a URL nor an existing database file; {_HINT}")
    if url.startswith("file://"):
        folder = Path(url.removeprefix("file://"))
        if not folder.is_dir():
            raise InvalidInput(f"{url!r}: folder {str(folder)!r} not found")
        return "files", str(folder.resolve()), None
    if url.startswith(("http://", "https://")):
        return "http", url, None
    parsed = _sqlalchemy_url(url)
    if parsed is not None:
        return "sql", url, parsed
    scheme = url.split("://", 1)[0]
    raise InvalidInput(f"systems at {scheme}:// URLs are not supported yet; {_HINT}")


def open_connector(
    url: str, connection: Options | None = None, credentials: dict[str, str] | None = None
) -> Connector:
    """The connector for ``url``; nothing connects until the first fetch or check."""
    sql = _sql_target(url, (credentials or {}).get("password"))
    if sql is not None:
        return SqlConnector(sql, shared=True)
    kind, target, _parsed = _classify(url)  # not cached: a path's kind depends on the disk
    return FACTORIES[kind](target, dict(connection or {}), dict(credentials or {}))
