"""package formats, tenant keys, encrypted and signed packages

Revision ID: 0005
Revises: 0006
Create Date: 2026-11-29 23:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public", sa.Text(), nullable=True),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("retired_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "purpose", "key_id"),
    )
    with op.batch_alter_table("tenant_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tenant_keys_tenant_id"), ["tenant_id"], unique=False)
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("default_formats", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("known_people", sa.JSON(), nullable=True))
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("formats", sa.JSON(), nullable=True))
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("encryption", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("signed_by", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("redactions", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("packages", schema=None) as batch_op:
        batch_op.drop_column("redactions")
        batch_op.drop_column("signed_by")
        batch_op.drop_column("encryption")
    with op.batch_alter_table("requests", schema=None) as batch_op:
        batch_op.drop_column("formats")
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_column("known_people")
        batch_op.drop_column("default_formats")
    with op.batch_alter_table("tenant_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenant_keys_tenant_id"))
    op.drop_table("tenant_keys")
