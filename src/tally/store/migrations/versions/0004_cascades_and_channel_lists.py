"""foreign keys with cascades for catalog deletes; resource channels as a JSON list

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 14:00:00

Subscriptions gain foreign keys to their database and resource; every key towards a
database, a resource or a profile deletes in cascade, so that deleting one of them takes
what hangs on it in the same statement. ``resources.channels`` turns from ``email,sms``
into ``["email", "sms"]``.

On SQLite the tables are rebuilt (batch mode) with foreign keys off (store/migrate.py):
dropping the old ``profiles`` with them on would cascade into ``subscriptions``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: (table, column, referred table): every key that now deletes in cascade.
CASCADES = [
    ("database_resources", "database_id", "databases"),
    ("database_resources", "resource_id", "resources"),
    ("profiles", "database_id", "databases"),
    ("counter_sets", "database_id", "databases"),
    ("counter_sets", "resource_id", "resources"),
    ("subscriptions", "profile_id", "profiles"),
]
#: Keys that did not exist before.
NEW_KEYS = [("subscriptions", "database_id", "databases"), ("subscriptions", "resource_id", "resources")]


def _name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def upgrade() -> None:
    tables = dict.fromkeys(table for table, _, _ in CASCADES + NEW_KEYS)
    for table in tables:
        with op.batch_alter_table(table) as batch:
            for owner, column, referred in CASCADES:
                if owner == table:
                    batch.drop_constraint(_name(owner, column, referred), type_="foreignkey")
            for owner, column, referred in CASCADES + NEW_KEYS:
                if owner == table:
                    batch.create_foreign_key(
                        _name(owner, column, referred), referred, [column], ["id"], ondelete="CASCADE"
                    )
    _channels_to_lists()


def _channels_to_lists() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("channel_list", sa.JSON(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE resources SET channel_list = to_json(string_to_array(channels, ','))")
    else:
        op.execute("""UPDATE resources SET channel_list = '["' || replace(channels, ',', '","') || '"]'""")
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("channels")
        batch.alter_column("channel_list", new_column_name="channels", nullable=False, existing_type=sa.JSON())


def downgrade() -> None:
    with op.batch_alter_table("resources") as batch:
        batch.add_column(sa.Column("channel_text", sa.String(length=200), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE resources SET channel_text = "
            "(SELECT string_agg(value, ',') FROM json_array_elements_text(channels) AS value)"
        )
    else:
        op.execute(
            "UPDATE resources SET channel_text = (SELECT group_concat(value, ',') FROM json_each(resources.channels))"
        )
    with op.batch_alter_table("resources") as batch:
        batch.drop_column("channels")
        batch.alter_column(
            "channel_text", new_column_name="channels", nullable=False, existing_type=sa.String(length=200)
        )
    tables = dict.fromkeys(table for table, _, _ in CASCADES + NEW_KEYS)
    for table in tables:
        with op.batch_alter_table(table) as batch:
            for owner, column, referred in CASCADES + NEW_KEYS:
                if owner == table:
                    batch.drop_constraint(_name(owner, column, referred), type_="foreignkey")
            for owner, column, referred in CASCADES:
                if owner == table:
                    batch.create_foreign_key(_name(owner, column, referred), referred, [column], ["id"])
