"""Every table of Tally, in one place.

The columns ``is_effective`` and ``is_sendable`` on ``subscriptions`` are derived data, kept
exact by every write (profiles/effective.py), so that a recount is one aggregate over
``ix_subscriptions_count`` and never a per-row loop. The number of live profiles of a
database is ``databases.live_profiles`` plus its rows in ``profile_count_deltas``.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

from tally.store.types import UTCDateTime

# Autoincrementing 64-bit keys: SQLite only autoincrements an INTEGER PRIMARY KEY (its rowid).
BigId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
)

# GCRA state per token (rate_limits/buckets.py), PostgreSQL only; UNLOGGED there (migration
# 0018): it is worth nothing after a crash, and a commit that touched only it waits for no WAL.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("token_id", BigInteger, primary_key=True, autoincrement=False),
    # When the token's bucket is full again: seconds since the epoch, on the database's clock.
    Column("tat", Float(precision=53), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False, index=True),
    # SHA-256 of the token: tokens are 256 random bits, so a fast hash is enough.
    Column("token_hash", String(64), nullable=False, unique=True),
    # The token's first characters, to tell tokens apart in `tally token list` (no secret:
    # 12 characters of 47 leave 210 random bits).
    Column("prefix", String(16), nullable=True),
    # A read-only token's calls that write get 403 (wire/endpoint.py).
    Column("read_only", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    # Updated at most once a minute per token, so that reads stay reads.
    Column("last_used_at", UTCDateTime(), nullable=True),
)

databases = Table(
    "databases",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    # Live (not deleted) profiles, the `all` counter: this plus the database's rows in
    # profile_count_deltas, which the catalog's maintenance pass folds in here.
    Column("live_profiles", BigInteger, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime(), nullable=False),
)

# One row per write that adds or removes profiles, never updated: concurrent imports into one
# database then lock no common row (an UPDATE of databases.live_profiles would serialise them
# until commit on PostgreSQL).
profile_count_deltas = Table(
    "profile_count_deltas",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("database_id", BigInteger, ForeignKey("databases.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("delta", BigInteger, nullable=False),
)

resources = Table(
    "resources",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    # Channel names, a sorted JSON list (a handful per resource).
    Column("channels", JSON, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

database_resources = Table(
    "database_resources",
    metadata,
    Column("database_id", BigInteger, ForeignKey("databases.id", ondelete="CASCADE"), primary_key=True),
    Column("resource_id", BigInteger, ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_database_resources_resource_id", "resource_id"),
)

profiles = Table(
    "profiles",
    metadata,
    Column("id", BigId, primary_key=True),
    # No foreign keys, as on subscriptions (migration 0011): profiles come by the million.
    Column("account_id", BigInteger, nullable=False),
    Column("database_id", BigInteger, nullable=False),
    Column("email", String(320), nullable=True),
    # The email without regard to case (profiles/keys.py), what matching by email looks up.
    Column("email_key", String(320), nullable=True),
    Column("phones", JSON, nullable=False),
    # System fields without their underscore (fname, lname, ...) and custom fields.
    Column("fields", JSON, nullable=False),
    # Global status as its number (api.md section 5); NULL when the profile has none.
    Column("global_status", SmallInteger, nullable=True),
    Column("is_deleted", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_profiles_database_id_email_key", "database_id", "email_key"),
)

# Each phone of a profile in its E.164 form where it has one (profiles/keys.py), so that a
# profile can be found by phone in its database. No foreign key, as on subscriptions.
profile_phones = Table(
    "profile_phones",
    metadata,
    Column("profile_id", BigInteger, primary_key=True),
    Column("phone", String(64), primary_key=True),
    Column("database_id", BigInteger, nullable=False),
    Index("ix_profile_phones_database_id_phone", "database_id", "phone"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", BigId, primary_key=True),
    # No foreign keys: rows come by the million, and PostgreSQL checks a key row by row
    # (migration 0010). Deleting a database or a resource deletes its subscriptions by the
    # catalog's own statement; no index leads with resource_id, so deleting a resource scans
    # the table once (a rare catalog change).
    Column("profile_id", BigInteger, nullable=False),
    Column("database_id", BigInteger, nullable=False),
    Column("resource_id", BigInteger, nullable=False),
    # Channel code (catalog/channels.py), small so that the count index stays small.
    Column("channel", SmallInteger, nullable=False),
    # The address as given, and a canonical text form that identifies the subscription.
    Column("address", JSON, nullable=False),
    Column("address_key", String(1000), nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("priority", Integer, nullable=False),
    Column("is_deleted", Boolean, nullable=False),
    # Order of changes within one (profile, resource, channel): breaks priority ties.
    Column("change_seq", BigInteger, nullable=False),
    Column("is_deliverable", Boolean, nullable=False),
    # Derived, kept exact on every write: the profile's effective subscription on its
    # (resource, channel), and whether it can be sent to (counting.md).
    Column("is_effective", Boolean, nullable=False),
    Column("is_sendable", Boolean, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index(
        "uq_subscriptions_identity",
        "profile_id",
        "resource_id",
        "channel",
        "address_key",
        unique=True,
    ),
    # The covering index of the recount (counters/count.py says why in this order). SQLite
    # counts a partial index as covering only when it also holds the WHERE column.
    Index(
        "ix_subscriptions_count",
        "database_id",
        "resource_id",
        "channel",
        "status",
        "is_sendable",
        "is_effective",
        sqlite_where=text("is_effective"),
        postgresql_where=text("is_effective"),
    ),
)

# The effective subscriptions per counter key, maintained by triggers on subscriptions
# (migration 0012) in the transaction of every write: a key's count is the sum of its rows'
# deltas. PostgreSQL inserts one row per statement and key (no row is shared by concurrent
# writers) and a maintenance pass folds them (counters/maintained.py); SQLite keeps one row
# per key. The full recount over ix_subscriptions_count stays as their proof.
subscription_counts = Table(
    "subscription_counts",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("database_id", BigInteger, nullable=False),
    Column("resource_id", BigInteger, nullable=False),
    Column("channel", SmallInteger, nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("is_sendable", Boolean, nullable=False),
    Column("delta", BigInteger, nullable=False),
    Index("ix_subscription_counts_key", "database_id", "resource_id", "channel", "status", "is_sendable"),
)

# When each (database, resource) last had its maintained counts checked by a recount
# (counters/reconcile.py): the pass that queues a check notes it here in its transaction.
count_reconciliations = Table(
    "count_reconciliations",
    metadata,
    Column("database_id", BigInteger, ForeignKey("databases.id", ondelete="CASCADE"), primary_key=True),
    Column("resource_id", BigInteger, ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True),
    Column("checked_at", UTCDateTime(), nullable=False),
)

counter_sets = Table(
    "counter_sets",
    metadata,
    Column("database_id", BigInteger, ForeignKey("databases.id", ondelete="CASCADE"), primary_key=True),
    Column("resource_id", BigInteger, ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    # The `channels` list of a refresh result, as api.md section 3 shows it.
    Column("channels", JSON, nullable=False),
    Column("total_count", BigInteger, nullable=False),
    Column("count_started_at", UTCDateTime(), nullable=False),
    Column("count_duration_ns", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("task_id", String(36), nullable=False),
)

# Every finished refresh of a (database, resource), kept TALLY_HISTORY_DAYS: the numbers
# over time (counters/history.py). Ordered by id, which grows with the time of the count.
counter_history = Table(
    "counter_history",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("database_id", BigInteger, ForeignKey("databases.id", ondelete="CASCADE"), nullable=False),
    Column("resource_id", BigInteger, ForeignKey("resources.id", ondelete="CASCADE"), nullable=False),
    Column("task_id", String(36), nullable=False),
    Column("channels", JSON, nullable=False),
    Column("total_count", BigInteger, nullable=False),
    Column("count_started_at", UTCDateTime(), nullable=False),
    Column("count_duration_ns", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_counter_history_pair", "database_id", "resource_id", "id"),
    Index("ix_counter_history_updated_at", "updated_at"),
)

# A refresh of a (database, resource) on a cron schedule of its own (schedules/).
schedules = Table(
    "schedules",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False, index=True),
    Column("database_id", BigInteger, ForeignKey("databases.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("resource_id", BigInteger, ForeignKey("resources.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("cron", String(200), nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("feedback_url", Text, nullable=True),
    Column("feedback_type", String(8), nullable=True),
    Column("paused", Boolean, nullable=False),
    # The next due time; every due run moves it past the present (missed times run once).
    Column("next_due_at", UTCDateTime(), nullable=False),
    Column("last_run_at", UTCDateTime(), nullable=True),
    Column("last_task_id", String(36), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_schedules_due", "paused", "next_due_at"),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("params", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("progress", SmallInteger, nullable=False, server_default="0"),
    Column("result", JSON, nullable=True),
    Column("error_text", Text, nullable=False, server_default=""),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("lease_owner", String(100), nullable=True),
    Column("lease_expires_at", UTCDateTime(), nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("scheduled_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=True),
    Column("finished_at", UTCDateTime(), nullable=True),
    Column("dedupe_key", String(200), nullable=True),
    # The task whose end created this one (a feedback delivery): the parent is not purged
    # while a child is active.
    Column("parent_id", String(36), nullable=True),
    # One active task per dedupe key: an insert that meets it does nothing, and the active
    # task's id is returned instead (queue/queries.py task_insert).
    Index(
        "uq_tasks_active_dedupe_key",
        "dedupe_key",
        unique=True,
        sqlite_where=text("status IN ('queued', 'processing')"),
        postgresql_where=text("status IN ('queued', 'processing')"),
    ),
    Index("ix_tasks_status_scheduled_at", "status", "scheduled_at"),
    Index("ix_tasks_finished_at", "finished_at"),
    Index("ix_tasks_parent_id", "parent_id"),
    Index("ix_tasks_account_created", "account_id", "created_at"),
)

# Who is signed in to the dashboard: a session per cookie, stored by the cookie's hash and
# ended with its token (dashboard/sessions.py).
dashboard_sessions = Table(
    "dashboard_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("token_id", BigInteger, ForeignKey("api_tokens.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", BigInteger, nullable=False),
    # Sent back with every form the session posts (dashboard/guard.py).
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

signing_secrets = Table(
    "signing_secrets",
    metadata,
    Column("id", BigId, primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id"), nullable=False, index=True),
    # Kept as given: an HMAC key must be usable, so it cannot be stored as a hash.
    Column("secret", String(100), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    # Set when a newer secret replaces it: it still signs until then (the grace period).
    Column("expires_at", UTCDateTime(), nullable=True),
)

feedback_deliveries = Table(
    "feedback_deliveries",
    metadata,
    # Also the webhook-id: the same on every retry, so that receivers can deduplicate.
    Column("id", String(36), primary_key=True),
    Column("task_id", String(36), ForeignKey("tasks.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("url", Text, nullable=False),
    Column("type", String(8), nullable=False),
    # waiting (task not finished) -> pending -> delivered | failed (feedback/states.py)
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=False, server_default=""),
    # The payload, built once when the task finishes and sent byte for byte on every retry.
    Column("body", LargeBinary, nullable=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
    Index("uq_feedback_deliveries_task_url_type", "task_id", "url", "type", unique=True),
)

# How far each `tally import` of a file into a database got (imports/checkpoints.py). It is
# written in the transaction of every batch, so that it always says exactly which rows are
# in: a resumed import seeks to `byte_offset` and goes on from there.
import_checkpoints = Table(
    "import_checkpoints",
    metadata,
    Column("database_id", BigInteger, ForeignKey("databases.id", ondelete="CASCADE"), primary_key=True),
    # The file's size and the SHA-256 of its first MiB: resuming another file is refused.
    Column("fingerprint", String(100), primary_key=True),
    Column("file_name", Text, nullable=False),
    # The options of the run (format, matching, resource, ...): a resume must give the same.
    Column("options", JSON, nullable=False),
    # The run that writes it: a later run over the same file stops an earlier one still going.
    Column("run_id", String(36), nullable=False),
    # Physical lines, records and bytes of the file consumed by committed batches.
    Column("line", BigInteger, nullable=False),
    Column("records", BigInteger, nullable=False),
    Column("byte_offset", BigInteger, nullable=False),
    Column("added", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("rejected", BigInteger, nullable=False),
    # Size of the rejects file after the last committed batch: a resume cuts it back to this.
    Column("rejects_bytes", BigInteger, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime(), nullable=True),
)
