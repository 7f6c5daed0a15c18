"""profiles without foreign keys, as subscriptions and profile_phones since 0010

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 09:00:00

PostgreSQL checks each key of each inserted row with a lookup and a lock of the referred
row: one INSERT ... SELECT of 1,000,000 profiles took 16.7 s with the keys to accounts and
databases, 4.3 s without them. A profile's database is deleted by the catalog's own
statement (catalog/queries.py database_delete); a write that adds profiles pins its
database first (catalog/queries.py Lock), so no profile is added to a database being
deleted.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: (column, referred table, ON DELETE)
DROPPED = [("account_id", "accounts", None), ("database_id", "databases", "CASCADE")]


def _name(column: str, referred: str) -> str:
    return f"fk_profiles_{column}_{referred}"


def upgrade() -> None:
    with op.batch_alter_table("profiles") as batch:
        for column, referred, _ in DROPPED:
            batch.drop_constraint(_name(column, referred), type_="foreignkey")


def downgrade() -> None:
    op.execute("DELETE FROM profiles WHERE database_id NOT IN (SELECT id FROM databases)")
    with op.batch_alter_table("profiles") as batch:
        for column, referred, ondelete in DROPPED:
            batch.create_foreign_key(_name(column, referred), referred, [column], ["id"], ondelete=ondelete)
