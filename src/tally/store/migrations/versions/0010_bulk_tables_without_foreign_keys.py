"""subscriptions and profile_phones without foreign keys: their rows are written by the million

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 18:30:00

PostgreSQL checks a foreign key row by row, with a lookup and a lock of the referred row:
an import's 20,000 subscriptions took 1.3 s with their three keys and 0.28 s without them
(the same rows, one INSERT ... SELECT). These two tables get their rows in bulk and lose
their keys; what hangs on a database or a resource is deleted by the catalog's own
statements (catalog/queries.py). The smaller tables keep their keys and cascades.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

#: (table, column, referred table)
DROPPED = [
    ("subscriptions", "profile_id", "profiles"),
    ("subscriptions", "database_id", "databases"),
    ("subscriptions", "resource_id", "resources"),
    ("profile_phones", "profile_id", "profiles"),
]


def _name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def upgrade() -> None:
    for table in dict.fromkeys(table for table, _, _ in DROPPED):
        with op.batch_alter_table(table) as batch:
            for owner, column, referred in DROPPED:
                if owner == table:
                    batch.drop_constraint(_name(owner, column, referred), type_="foreignkey")


def downgrade() -> None:
    # Rows whose profile, database or resource is gone would refuse the keys: they are
    # unreachable anyway (nothing counts or shows them).
    for table, column, referred in DROPPED:
        op.execute(f"DELETE FROM {table} WHERE {column} NOT IN (SELECT id FROM {referred})")
    for table in dict.fromkeys(table for table, _, _ in DROPPED):
        with op.batch_alter_table(table) as batch:
            for owner, column, referred in DROPPED:
                if owner == table:
                    batch.create_foreign_key(
                        _name(owner, column, referred), referred, [column], ["id"], ondelete="CASCADE"
                    )
