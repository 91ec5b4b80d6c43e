"""Pick the connector for a client system from its URL."""

from __future__ import annotations

from collections.abc import Callable
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
    return _sql_parsed(make_url(url), credentials)


def _sql_parsed(parsed: URL, credentials: dict[str, str]) -> Connector:
    """The connector for the URL as SQLAlchemy renders it, with the credential's password
    when the URL has none. Not cached: a URL may hold a password, and parsing costs
    microseconds."""
    password = credentials.get("password")
    if password and parsed.password is None:  # never cached: it holds a secret
        parsed = parsed.set(password=password)
    return SqlConnector(parsed.render_as_string(hide_password=False), shared=True)


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
    """The parsed URL if SQLAlchemy has a dialect for it (not cached: it may hold a password)."""
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
    kind, target, parsed = _classify(url)
    if parsed is not None:
        return _sql_parsed(parsed, dict(credentials or {}))
    return FACTORIES[kind](target, dict(connection or {}), dict(credentials or {}))
