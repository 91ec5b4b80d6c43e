"""manual upload tasks

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-30 00:05:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "manual_tasks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("system", sa.String(length=100), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "system"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index(
        op.f("ix_manual_tasks_request_id"), "manual_tasks", ["request_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_manual_tasks_request_id"), table_name="manual_tasks")
    op.drop_table("manual_tasks")
