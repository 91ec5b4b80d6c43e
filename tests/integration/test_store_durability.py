"""The embedded store's settings that make an accepted request survive a crash."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from ferry.db import get_engine


def test_embedded_store_commits_durably(ferry_env: Path) -> None:
    with get_engine().connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        # 2 = FULL: the WAL is synced at every commit, so an answered submit is on disk
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
