"""subscription_counts: the effective subscriptions per counter key, kept by triggers

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 09:30:00

Every write that changes what ``ix_subscriptions_count`` holds (an effective subscription's
database, resource, channel, status or sendable flag, its arrival or its end) changes the
count of its key (database, resource, channel, status, is_sendable) in the same
transaction, by triggers on ``subscriptions``, so that no write path has to remember it
(counters/maintained.py says how they are read and folded):

* PostgreSQL: one statement-level trigger per event, reading the statement's transition
  tables, inserts one delta row per key the statement changed. Rows are only inserted,
  never updated, so concurrent writers share no row; a maintenance pass folds them.
* SQLite (one writer at a time): row-level triggers add to the key's one row.

The table is filled from the stored subscriptions.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

KEY = "database_id, resource_id, channel, status, is_sendable"

POSTGRES = [
    f"""
    CREATE FUNCTION subscription_counts_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO subscription_counts ({KEY}, delta)
        SELECT {KEY}, count(*) FROM inserted WHERE is_effective GROUP BY {KEY};
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION subscription_counts_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO subscription_counts ({KEY}, delta)
        SELECT {KEY}, sum(delta) FROM (
            SELECT {KEY}, -1 AS delta FROM removed WHERE is_effective
            UNION ALL
            SELECT {KEY}, 1 FROM inserted WHERE is_effective
        ) AS changes
        GROUP BY {KEY} HAVING sum(delta) <> 0;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION subscription_counts_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO subscription_counts ({KEY}, delta)
        SELECT {KEY}, -count(*) FROM removed WHERE is_effective GROUP BY {KEY};
        RETURN NULL;
    END $$
    """,
    """
    CREATE TRIGGER subscription_counts_insert AFTER INSERT ON subscriptions
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION subscription_counts_insert()
    """,
    """
    CREATE TRIGGER subscription_counts_update AFTER UPDATE ON subscriptions
    REFERENCING OLD TABLE AS removed NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION subscription_counts_update()
    """,
    """
    CREATE TRIGGER subscription_counts_delete AFTER DELETE ON subscriptions
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION subscription_counts_delete()
    """,
]


def _sqlite_add(row: str, delta: str) -> str:
    """Statements adding ``delta`` to the count of ``row``'s key (``NEW`` or ``OLD``)."""
    where = " AND ".join(f"{column} = {row}.{column}" for column in KEY.split(", "))
    values = ", ".join(f"{row}.{column}" for column in KEY.split(", "))
    return (
        f"UPDATE subscription_counts SET delta = delta + ({delta}) WHERE {where};\n"
        f"INSERT INTO subscription_counts ({KEY}, delta) SELECT {values}, {delta}\n"
        f"    WHERE NOT EXISTS (SELECT 1 FROM subscription_counts WHERE {where});"
    )


_KEY_CHANGED = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in ("is_effective", *KEY.split(", ")))

SQLITE = [
    f"""
    CREATE TRIGGER subscription_counts_insert AFTER INSERT ON subscriptions WHEN NEW.is_effective
    BEGIN
    {_sqlite_add("NEW", "1")}
    END
    """,
    f"""
    CREATE TRIGGER subscription_counts_update_old AFTER UPDATE ON subscriptions
    WHEN OLD.is_effective AND ({_KEY_CHANGED})
    BEGIN
    {_sqlite_add("OLD", "-1")}
    END
    """,
    f"""
    CREATE TRIGGER subscription_counts_update_new AFTER UPDATE ON subscriptions
    WHEN NEW.is_effective AND ({_KEY_CHANGED})
    BEGIN
    {_sqlite_add("NEW", "1")}
    END
    """,
    f"""
    CREATE TRIGGER subscription_counts_delete AFTER DELETE ON subscriptions WHEN OLD.is_effective
    BEGIN
    {_sqlite_add("OLD", "-1")}
    END
    """,
]

TRIGGERS = {
    "postgresql": ["subscription_counts_insert", "subscription_counts_update", "subscription_counts_delete"],
    "sqlite": [
        "subscription_counts_insert",
        "subscription_counts_update_old",
        "subscription_counts_update_new",
        "subscription_counts_delete",
    ],
}


def upgrade() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "subscription_counts",
        sa.Column("id", big_id, primary_key=True),
        sa.Column("database_id", sa.BigInteger(), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.SmallInteger(), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("is_sendable", sa.Boolean(), nullable=False),
        sa.Column("delta", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_subscription_counts"),
    )
    op.create_index(
        "ix_subscription_counts_key",
        "subscription_counts",
        ["database_id", "resource_id", "channel", "status", "is_sendable"],
    )
    if op.get_bind().dialect.name == "postgresql":
        # Writers wait until this commits, so none lands between the fill and the triggers
        # (it would be counted by neither); readers go on. SQLite's migration holds the
        # one write lock throughout already.
        op.execute("LOCK TABLE subscriptions IN SHARE ROW EXCLUSIVE MODE")
    op.execute(
        f"INSERT INTO subscription_counts ({KEY}, delta) "
        f"SELECT {KEY}, count(*) FROM subscriptions WHERE is_effective GROUP BY {KEY}"
    )
    statements = POSTGRES if op.get_bind().dialect.name == "postgresql" else SQLITE
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in TRIGGERS[dialect]:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON subscriptions" if dialect == "postgresql" else ""))
    if dialect == "postgresql":
        for name in ("subscription_counts_insert", "subscription_counts_update", "subscription_counts_delete"):
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
    op.drop_index("ix_subscription_counts_key", "subscription_counts")
    op.drop_table("subscription_counts")
