"""rate_limits: one GCRA time per token, shared by every API process (PostgreSQL)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 19:00:00

UNLOGGED on PostgreSQL: the table is emptied after a crash (every bucket starts full, which
is harmless), and a request's update of it writes no WAL, so its commit waits for no flush.
SQLite keeps buckets in memory; the table is created there too, so that both schemas match.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table(
        "rate_limits",
        sa.Column("token_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("tat", sa.Float(precision=53), nullable=False),
        prefixes=unlogged,
    )


def downgrade() -> None:
    op.drop_table("rate_limits")
