"""schedules: a refresh of a (database, resource) on a cron schedule of its own

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 13:20:00

The schedules' maintenance pass queues the refresh of each schedule whose next_due_at has
come and moves next_due_at past the present, in one transaction with the row locked: a
due time runs once however many workers run the pass (schedules/service.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tally.store.types import UTCDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("database_id", sa.BigInteger(), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.Column("cron", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("feedback_url", sa.Text(), nullable=True),
        sa.Column("feedback_type", sa.String(length=8), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("next_due_at", UTCDateTime(), nullable=False),
        sa.Column("last_run_at", UTCDateTime(), nullable=True),
        sa.Column("last_task_id", sa.String(length=36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name="fk_schedules_account_id_accounts"),
        sa.ForeignKeyConstraint(
            ["database_id"], ["databases.id"], name="fk_schedules_database_id_databases", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name="fk_schedules_resource_id_resources", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
    )
    op.create_index("ix_schedules_account_id", "schedules", ["account_id"])
    op.create_index("ix_schedules_database_id", "schedules", ["database_id"])
    op.create_index("ix_schedules_resource_id", "schedules", ["resource_id"])
    op.create_index("ix_schedules_due", "schedules", ["paused", "next_due_at"])


def downgrade() -> None:
    for index in (
        "ix_schedules_due",
        "ix_schedules_resource_id",
        "ix_schedules_database_id",
        "ix_schedules_account_id",
    ):
        op.drop_index(index, "schedules")
    op.drop_table("schedules")
