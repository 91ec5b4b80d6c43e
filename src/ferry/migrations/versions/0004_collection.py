"""collection: gap report per system, encrypted system credentials

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-29 23:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("systems", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credentials", sa.Text(), nullable=True))
    op.create_table(
        "collection_systems",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("system", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "system"),
    )
    with op.batch_alter_table("collection_systems", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_systems_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("collection_systems", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_systems_request_id"))
    op.drop_table("collection_systems")
    with op.batch_alter_table("systems", schema=None) as batch_op:
        batch_op.drop_column("credentials")
