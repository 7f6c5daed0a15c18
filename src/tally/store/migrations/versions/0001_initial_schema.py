"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-28 13:41:14.353405
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tally.store.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", tally.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_api_tokens_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_tokens_account_id"), ["account_id"], unique=False)

    op.create_table(
        "databases",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("live_profiles", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_databases_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_databases")),
    )
    with op.batch_alter_table("databases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_databases_account_id"), ["account_id"], unique=False)

    op.create_table(
        "resources",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("channels", sa.String(length=200), nullable=False),
        sa.Column("created_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_resources_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resources")),
    )
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resources_account_id"), ["account_id"], unique=False)

    op.create_table(
        "tasks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("progress", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error_text", sa.Text(), server_default="", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", tally.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("scheduled_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", tally.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", tally.store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_tasks_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index("ix_tasks_finished_at", ["finished_at"], unique=False)
        batch_op.create_index("ix_tasks_status_scheduled_at", ["status", "scheduled_at"], unique=False)
        batch_op.create_index(
            "uq_tasks_active_dedupe_key",
            ["dedupe_key"],
            unique=True,
            sqlite_where=sa.text("status IN ('queued', 'processing')"),
            postgresql_where=sa.text("status IN ('queued', 'processing')"),
        )

    op.create_table(
        "counter_sets",
        sa.Column("database_id", sa.BigInteger(), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("total_count", sa.BigInteger(), nullable=False),
        sa.Column("count_started_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count_duration_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(["database_id"], ["databases.id"], name=op.f("fk_counter_sets_database_id_databases")),
        sa.ForeignKeyConstraint(["resource_id"], ["resources.id"], name=op.f("fk_counter_sets_resource_id_resources")),
        sa.PrimaryKeyConstraint("database_id", "resource_id", name=op.f("pk_counter_sets")),
    )
    op.create_table(
        "database_resources",
        sa.Column("database_id", sa.BigInteger(), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["database_id"], ["databases.id"], name=op.f("fk_database_resources_database_id_databases")
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"], ["resources.id"], name=op.f("fk_database_resources_resource_id_resources")
        ),
        sa.PrimaryKeyConstraint("database_id", "resource_id", name=op.f("pk_database_resources")),
    )
    with op.batch_alter_table("database_resources", schema=None) as batch_op:
        batch_op.create_index("ix_database_resources_resource_id", ["resource_id"], unique=False)

    op.create_table(
        "profiles",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("database_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("global_status", sa.SmallInteger(), nullable=True),
        sa.Column("is_deleted", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("created_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_profiles_account_id_accounts")),
        sa.ForeignKeyConstraint(["database_id"], ["databases.id"], name=op.f("fk_profiles_database_id_databases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
    )
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.create_index("ix_profiles_database_id_email", ["database_id", "email"], unique=False)

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("profile_id", sa.BigInteger(), nullable=False),
        sa.Column("database_id", sa.BigInteger(), nullable=False),
        sa.Column("resource_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.SmallInteger(), nullable=False),
        sa.Column("address", sa.JSON(), nullable=False),
        sa.Column("address_key", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("is_deliverable", sa.Boolean(), nullable=False),
        sa.Column("is_effective", sa.Boolean(), nullable=False),
        sa.Column("is_sendable", sa.Boolean(), nullable=False),
        sa.Column("updated_at", tally.store.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["profile_id"], ["profiles.id"], name=op.f("fk_subscriptions_profile_id_profiles")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscriptions_count",
            ["database_id", "resource_id", "channel", "status", "is_sendable", "is_effective"],
            unique=False,
            sqlite_where=sa.text("is_effective"),
            postgresql_where=sa.text("is_effective"),
        )
        batch_op.create_index(
            "uq_subscriptions_identity", ["profile_id", "resource_id", "channel", "address_key"], unique=True
        )
    if op.get_bind().dialect.name == "postgresql":
        # The recount is an index-only scan: it skips the heap only for pages the visibility
        # map marks all-visible. The default (vacuum at 20 % dead rows) lets updates leave most
        # pages unmarked, which made a 10M count 4x slower in research/perf-baseline.md.
        op.execute(
            "ALTER TABLE subscriptions SET (autovacuum_vacuum_scale_factor = 0.01, "
            "autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02)"
        )


def downgrade() -> None:
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("uq_subscriptions_identity")
        batch_op.drop_index(
            "ix_subscriptions_count", sqlite_where=sa.text("is_effective"), postgresql_where=sa.text("is_effective")
        )

    op.drop_table("subscriptions")
    with op.batch_alter_table("profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_profiles_database_id_email")

    op.drop_table("profiles")
    with op.batch_alter_table("database_resources", schema=None) as batch_op:
        batch_op.drop_index("ix_database_resources_resource_id")

    op.drop_table("database_resources")
    op.drop_table("counter_sets")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_tasks_active_dedupe_key",
            sqlite_where=sa.text("status IN ('queued', 'processing')"),
            postgresql_where=sa.text("status IN ('queued', 'processing')"),
        )
        batch_op.drop_index("ix_tasks_status_scheduled_at")
        batch_op.drop_index("ix_tasks_finished_at")

    op.drop_table("tasks")
    with op.batch_alter_table("resources", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resources_account_id"))

    op.drop_table("resources")
    with op.batch_alter_table("databases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_databases_account_id"))

    op.drop_table("databases")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_tokens_account_id"))

    op.drop_table("api_tokens")
    op.drop_table("accounts")
