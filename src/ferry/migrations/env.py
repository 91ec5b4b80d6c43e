"""Alembic environment: the URL comes from Ferry's settings (or the caller), never alembic.ini."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from ferry.db import get_engine
from ferry.store.tables import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


url = config.get_main_option("sqlalchemy.url") or None
conn = config.attributes.get("connection")
if conn is not None:
    _run(conn)
else:
    with get_engine(url).begin() as connection:
        _run(connection)
