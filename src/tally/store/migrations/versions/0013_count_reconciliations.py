"""count_reconciliations: when each (database, resource) last had its counts checked

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 10:00:00

The counters' maintenance pass queues a recount of a pair whose last check is older than
TALLY_RECONCILE_HOURS and notes the time here in the same transaction, so that however
many workers run, each pair is checked once per interval (counters/reconcile.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tally.store.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "count_reconciliations",
        sa.Column("database_id", sa.BigInteger(), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["database_id"], ["databases.id"], name="fk_count_reconciliations_database_id_databases", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name="fk_count_reconciliations_resource_id_resources", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("database_id", "resource_id", name="pk_count_reconciliations"),
    )


def downgrade() -> None:
    op.drop_table("count_reconciliations")
