"""request clocks and tenant SLA settings

Revision ID: 0002
Revises: 0003
Create Date: 2026-11-29 22:45:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_sla",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("internal_days", sa.Integer(), nullable=True),
        sa.Column("reminders", sa.JSON(), nullable=False),
        sa.Column("escalate_at", sa.Float(), nullable=False),
        sa.Column("supervisor_email", sa.String(length=320), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("tenant_id"),
    )
    op.create_table(
        "request_clocks",
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("received_local", sa.Date(), nullable=False),
        sa.Column("statutory_due", sa.Date(), nullable=False),
        sa.Column("acknowledge_by", sa.Date(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("internal_due", sa.Date(), nullable=True),
        sa.Column("paused_days", sa.Integer(), nullable=False),
        sa.Column("paused_since", sa.DateTime(), nullable=True),
        sa.Column("pause_reason", sa.String(length=30), nullable=True),
        sa.Column("extensions", sa.Integer(), nullable=False),
        sa.Column("extended_until", sa.Date(), nullable=True),
        sa.Column("paused_days_at_extension", sa.Integer(), nullable=False),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("extension_notice_at", sa.DateTime(), nullable=True),
        sa.Column("over_limit", sa.Text(), nullable=True),
        sa.Column("reminders_sent", sa.JSON(), nullable=False),
        sa.Column("escalated_at", sa.DateTime(), nullable=True),
        sa.Column("overdue_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["request_id"], ["requests.id"]),
        sa.PrimaryKeyConstraint("request_id"),
    )


def downgrade() -> None:
    op.drop_table("request_clocks")
    op.drop_table("tenant_sla")
