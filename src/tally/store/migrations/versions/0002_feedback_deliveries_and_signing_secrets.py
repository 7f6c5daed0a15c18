"""feedback deliveries and signing secrets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 13:54:04.653911
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tally.store.types

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "signing_secrets",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("created_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", tally.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_signing_secrets_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_secrets")),
    )
    with op.batch_alter_table("signing_secrets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_signing_secrets_account_id"), ["account_id"], unique=False)

    op.create_table(
        "feedback_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), server_default="", nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", tally.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_feedback_deliveries_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_deliveries")),
    )
    with op.batch_alter_table("feedback_deliveries", schema=None) as batch_op:
        batch_op.create_index("uq_feedback_deliveries_task_url_type", ["task_id", "url", "type"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("feedback_deliveries", schema=None) as batch_op:
        batch_op.drop_index("uq_feedback_deliveries_task_url_type")

    op.drop_table("feedback_deliveries")
    with op.batch_alter_table("signing_secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signing_secrets_account_id"))

    op.drop_table("signing_secrets")
