"""A SQL URL is parsed once per password (the process-wide pool keys by it already);
credentials are never mixed between systems, and a path's kind follows the disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferry.connectors.files import FileConnector
from ferry.connectors.registry import connector_kind, open_connector
from ferry.connectors.sql import SqlConnector
from ferry.domain.errors import InvalidInput

URL = "postgresql+psycopg://app@db.example:5432/shop"


def target(connector: object) -> str:
    assert isinstance(connector, SqlConnector)
    return connector.config.url


def test_each_password_is_applied_to_its_own_connector() -> None:
    first = target(open_connector(URL, credentials={"password": "one"}))
    second = target(open_connector(URL, credentials={"password": "two"}))
    plain = target(open_connector(URL))
    assert "app:one@" in first
    assert "app:two@" in second
    assert plain == URL  # no password: none invented, none left over from before


def test_a_password_in_the_url_wins_over_the_credential() -> None:
    url = "postgresql+psycopg://app:inurl@db.example/shop"
    assert "app:inurl@" in target(open_connector(url, credentials={"password": "other"}))


@pytest.mark.parametrize("url", ["nosuchdb+driver://x/y", "ftp://host/file"])
def test_unknown_schemes_are_refused_every_time(url: str) -> None:
    for _ in range(2):  # the second opening answers the same
        with pytest.raises(InvalidInput, match="not supported"):
            connector_kind(url)


def test_a_path_is_looked_at_again_each_time(tmp_path: Path) -> None:
    """A plain path names a folder of files or a SQLite file: what is there now decides."""
    where = tmp_path / "export"
    where.mkdir()
    assert isinstance(open_connector(str(where)), FileConnector)
    where.rmdir()
    where.write_bytes(b"")  # the client replaced the folder with a database file
    assert isinstance(open_connector(str(where)), SqlConnector)
    where.unlink()
    with pytest.raises(InvalidInput, match="neither a URL nor an existing database file"):
        open_connector(str(where))
