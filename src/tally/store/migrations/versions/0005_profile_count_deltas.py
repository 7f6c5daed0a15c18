"""profile_count_deltas: the live-profile count of a database without a row every write locks

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 14:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profile_count_deltas",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("database_id", sa.BigInteger(), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["database_id"],
            ["databases.id"],
            name=op.f("fk_profile_count_deltas_database_id_databases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_count_deltas")),
    )
    op.create_index(op.f("ix_profile_count_deltas_database_id"), "profile_count_deltas", ["database_id"])


def downgrade() -> None:
    # Fold what is pending first, so that no count is lost.
    op.execute(
        "UPDATE databases SET live_profiles = live_profiles + "
        "(SELECT coalesce(sum(delta), 0) FROM profile_count_deltas WHERE database_id = databases.id)"
    )
    op.drop_index(op.f("ix_profile_count_deltas_database_id"), "profile_count_deltas")
    op.drop_table("profile_count_deltas")
