"""api_tokens: a display prefix, a read-only scope, and when each token was last used

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 16:00:00

Tokens made before this migration have no prefix (Tally kept only their hash); they keep
working, with full scope, and `tally token list` shows them by id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tally.store.types import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("prefix", sa.String(length=16), nullable=True))
    op.add_column("api_tokens", sa.Column("read_only", sa.Boolean(), nullable=False, server_default=sa.text("false")))
    op.add_column("api_tokens", sa.Column("last_used_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("read_only")
        batch.drop_column("prefix")
