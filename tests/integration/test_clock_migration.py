"""Migration 0002 creates exactly what the models declare for the clock tables."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from ferry.db import get_engine
from ferry.settings import get_settings
from ferry.store.tables import Base

MINE = ("'tenant_sla'", "'request_clocks'", "Table('tenant_sla'", "Table('request_clocks'")


def test_clock_tables_match_the_models(ferry_env_any: Path) -> None:
    with get_engine(get_settings().db_url).connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if any(name in repr(d) for name in MINE)] == []
