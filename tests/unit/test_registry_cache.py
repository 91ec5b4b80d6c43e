"""Opening the same system again parses its URL again (no URL, which may hold a password, is
kept in a cache); credentials are never mixed between systems."""

from __future__ import annotations

import pytest

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
