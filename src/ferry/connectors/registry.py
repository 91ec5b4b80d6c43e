"""Pick the connector for a client system from its URL."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from ferry.connectors.base import Connector
from ferry.connectors.sql import SqlConnector
from ferry.domain.errors import InvalidInput

Factory = Callable[[str], Connector]

CONNECTORS: dict[str, Factory] = {"sql": SqlConnector}
"""Connector factories keyed by kind; each takes the system's URL."""

_HINT = (
    "use a SQLAlchemy URL such as postgresql+psycopg://user@host/db, "
    "mysql+pymysql://user@host/db or sqlite:///path/to/file.db"
)


def _sqlalchemy_url(url: str) -> URL | None:
    try:
        parsed = make_url(url)
        parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError, ValueError):
        return None
    return parsed


def connector_kind(url: str) -> tuple[str, str]:
    """``(kind, normalised url)`` for a system URL, or ``InvalidInput`` saying what works."""
    url = url.strip()
    if "://" not in url:
        path = Path(url)
        if path.is_file():
            return "sql", URL.create("sqlite", database=str(path.resolve())).render_as_string()
        if path.is_dir():
            raise InvalidInput(f"folders of files ({url!r}) are not supported yet; {_HINT}")
        raise InvalidInput(f"{url!r} is neither a URL nor an existing database file; {_HINT}")
    if _sqlalchemy_url(url) is not None:
        return "sql", url
    scheme = url.split("://", 1)[0]
    raise InvalidInput(f"systems at {scheme}:// URLs are not supported yet; {_HINT}")


def open_connector(url: str) -> Connector:
    """The connector for ``url``; nothing connects until the first fetch or check."""
    kind, target = connector_kind(url)
    return CONNECTORS[kind](target)
