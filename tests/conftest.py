"""Shared fixtures: an isolated Ferry (settings, store, var/) on SQLite or the real PostgreSQL."""

from __future__ import annotations

import email
import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ferry.db import dispose_engines
from ferry.services import jobs
from ferry.settings import reset_settings
from ferry.store.migrate import upgrade

REQUIRE = os.environ.get("FERRY_REQUIRE_SERVICES") == "1"
PG_URL = os.environ.get(
    "FERRY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def missing(what: str, how: str) -> None:
    """Skip a test whose service is absent, or fail under FERRY_REQUIRE_SERVICES=1."""
    message = f"{what} is not available: {how}"
    if REQUIRE:
        pytest.fail(message + " (FERRY_REQUIRE_SERVICES=1 forbids skipping)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_server() -> str:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except Exception as exc:
        missing("PostgreSQL", f"start it or set FERRY_TEST_POSTGRES_URL ({exc.__class__.__name__})")
    return PG_URL


@pytest.fixture
def pg_database(pg_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"ferry_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    dispose_engines()
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _configure(monkeypatch: pytest.MonkeyPatch, var: Path, url: str) -> None:
    monkeypatch.setenv("FERRY_VAR_DIR", str(var))
    monkeypatch.setenv("FERRY_DATABASE_URL", url)
    monkeypatch.setenv("FERRY_SECRET_KEY", secrets.token_urlsafe(32))
    monkeypatch.setenv("FERRY_PUBLIC_URL", "http://testserver")
    monkeypatch.delenv("FERRY_SMTP_URL", raising=False)
    monkeypatch.delenv("FERRY_BROKER_URL", raising=False)  # jobs in-process unless a test asks
    reset_settings()
    dispose_engines()
    upgrade()


@pytest.fixture
def ferry_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Ferry on its embedded default (SQLite under a temp var/). Yields the var dir."""
    var = tmp_path / "var"
    _configure(monkeypatch, var, f"sqlite:///{(var / 'ferry.db').as_posix()}")
    yield var
    jobs.shutdown()
    dispose_engines()
    reset_settings()


@pytest.fixture(params=["sqlite", "postgres"])
def ferry_env_any(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Ferry on SQLite and on the real PostgreSQL."""
    var = tmp_path / "var"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_database")
    else:
        url = f"sqlite:///{(var / 'ferry.db').as_posix()}"
    _configure(monkeypatch, var, url)
    yield var
    jobs.shutdown()
    dispose_engines()
    reset_settings()


class Outbox:
    def __init__(self, var: Path):
        self.folder = var / "outbox"

    def messages(self) -> list[email.message.Message]:
        files = sorted(self.folder.glob("*.eml")) if self.folder.exists() else []
        return [email.message_from_bytes(f.read_bytes()) for f in files]

    def to(self, address: str) -> list[email.message.Message]:
        return [m for m in self.messages() if m["To"] == address]

    def last_code(self, address: str) -> str:
        for msg in reversed(self.to(address)):
            body = msg.get_payload(decode=True)
            assert isinstance(body, bytes)
            found = re.search(r"code is (\d{6})", body.decode())
            if found:
                return found.group(1)
        raise AssertionError(f"no code mailed to {address}")


@pytest.fixture
def outbox(ferry_env: Path) -> Outbox:
    return Outbox(ferry_env)
