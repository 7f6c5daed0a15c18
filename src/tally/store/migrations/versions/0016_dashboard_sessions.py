"""dashboard_sessions: who is signed in to the dashboard; tasks by account, newest first

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 15:00:00

A session belongs to the API token it was opened with: revoking the token ends it, and so
does signing out or its expiry (dashboard/sessions.py). The dashboard's recent tasks are
an account's newest: ix_tasks_account_created reads them without scanning every task.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tally.store.types import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dashboard_sessions",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name="fk_dashboard_sessions_token_id_api_tokens", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id_hash", name="pk_dashboard_sessions"),
    )
    op.create_index("ix_dashboard_sessions_expires_at", "dashboard_sessions", ["expires_at"])
    op.create_index("ix_tasks_account_created", "tasks", ["account_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_account_created", "tasks")
    op.drop_index("ix_dashboard_sessions_expires_at", "dashboard_sessions")
    op.drop_table("dashboard_sessions")
