"""counter_history: every finished refresh of a (database, resource), for the numbers over time

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 13:10:00

A refresh's finish writes its counters here beside counter_sets (which keeps the last
one only), in the same transaction; a maintenance pass removes rows older than
TALLY_HISTORY_DAYS. Existing counter sets become the first rows, so that a database's
history starts with what it already had.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tally.store.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "counter_history",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("database_id", sa.BigInteger(), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("total_count", sa.BigInteger(), nullable=False),
        sa.Column("count_started_at", UTCDateTime(), nullable=False),
        sa.Column("count_duration_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["database_id"], ["databases.id"], name="fk_counter_history_database_id_databases", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name="fk_counter_history_resource_id_resources", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_counter_history"),
    )
    op.create_index("ix_counter_history_pair", "counter_history", ["database_id", "resource_id", "id"])
    op.create_index("ix_counter_history_updated_at", "counter_history", ["updated_at"])
    op.execute(
        "INSERT INTO counter_history (database_id, resource_id, task_id, channels, total_count,"
        " count_started_at, count_duration_ns, updated_at)"
        " SELECT database_id, resource_id, task_id, channels, total_count, count_started_at,"
        " count_duration_ns, updated_at FROM counter_sets ORDER BY updated_at"
    )


def downgrade() -> None:
    op.drop_index("ix_counter_history_updated_at", "counter_history")
    op.drop_index("ix_counter_history_pair", "counter_history")
    op.drop_table("counter_history")
