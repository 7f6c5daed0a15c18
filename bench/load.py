"""Fast benchmark loader: N demo profiles into PostgreSQL through COPY (benchmarks only).

Writes the same rows ``profiles_add`` writes (tally.profiles.service): the profiles of
``tally.demo.demo_profiles`` and their subscriptions as ``new_subscription_rows``
(tally.profiles.rows) builds them, derived columns (is_deliverable, is_effective, is_sendable) included, then adds the
profiles to ``databases.live_profiles``. Only the transport differs: binary COPY in
batches instead of INSERTs, so 10M profiles take minutes instead of hours.

* Memory stays bounded: profiles are generated and sent ``--batch`` at a time; each batch
  is one COPY into ``profiles`` and one into ``subscriptions``.
* Profile ids are drawn from the column's sequence, as ``profiles_add`` draws them;
  subscription ids come from the column default (the same sequence inserts use).
* Unless ``--keep-indexes``, the indexes and constraints of ``subscriptions`` (primary key,
  ``uq_subscriptions_identity``, ``ix_subscriptions_count``, the foreign key to profiles)
  and of ``profiles`` (primary key, ``ix_profiles_database_id_email``, the foreign keys to
  accounts and databases) are dropped before the COPY and recreated after it from the
  definitions PostgreSQL reported (``pg_get_indexdef`` / ``pg_get_constraintdef``); the
  loader checks that the recreated set is identical. Building an index once is cheaper than
  maintaining it row by row, and a foreign key checked per row costs a lookup each (about
  9 us per profile for the two of profiles, measured), while re-adding it validates all
  rows in one join. Everything up to here is one transaction: a failed load leaves the
  schema and data as they were.
* Then ``VACUUM ANALYZE`` of both tables (the count is an index-only scan: it needs the
  visibility map set and fresh statistics).

Progress goes to stderr. As a script it creates the PostgreSQL database if missing (never
drops one), migrates it, creates the bench account, database and resource, and loads:

    python bench/load.py --profiles 1000000 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/tally_bench
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.catalog.service import database_add, resource_add
from tally.demo import demo_profiles
from tally.profiles.input import ProfileInput
from tally.profiles.rows import new_subscription_rows
from tally.store.engine import create_engine, normalise_url, read_transaction, write_transaction
from tally.store.migrate import upgrade
from tally.store.tables import accounts, database_resources, databases, profile_count_deltas, resources
from tally.store.types import utcnow

BENCH_ACCOUNT, BENCH_NAME, BENCH_CHANNELS = "bench", "Bench", ["email", "sms", "push"]
DEFAULT_BATCH = 50_000
#: Dropped in this order (the foreign keys of subscriptions and profile_phones need the
#: primary key of profiles), recreated in the reverse order.
TABLES = ("profile_phones", "subscriptions", "profiles")
#: The columns profiles_add gives a profile row, in its order.
PROFILE_COLUMNS = (
    "id",
    "account_id",
    "database_id",
    "email",
    "phones",
    "fields",
    "global_status",
    "is_deleted",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class Target:
    """Where the bench profiles go: the bench account, its database and resource."""

    account_id: int
    database_id: int
    resource_id: int


@dataclass
class LoadReport:
    profiles: int = 0
    subscriptions: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def libpq_url(url: str) -> str:
    """The SQLAlchemy URL (``postgresql+psycopg://...``) as a libpq connection string."""
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "postgresql":
        raise SystemExit(f"the COPY loader needs PostgreSQL, not {parsed.get_backend_name()}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def ensure_database(url: str) -> None:
    """Create the URL's database if it does not exist (never drops anything)."""
    parsed = make_url(libpq_url(url))
    name = parsed.database
    maintenance = parsed.set(database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            log(f"created database {name}")


async def create_target(engine: AsyncEngine) -> Target:
    """A new bench database and resource (email, sms, push), in the bench account."""
    created = await token_create(engine, BENCH_ACCOUNT)
    async with write_transaction(engine) as conn:
        database_id = await database_add(conn, created.account_id, BENCH_NAME, "")
        resource_id = await resource_add(conn, created.account_id, BENCH_NAME, BENCH_CHANNELS, [database_id])
    return Target(created.account_id, database_id, resource_id)


async def find_target(engine: AsyncEngine, profiles: int) -> Target | None:
    """The newest bench database holding exactly ``profiles`` live profiles, if any."""
    # The folded count and the deltas not folded yet, as catalog/queries.py counts them.
    live_profiles = databases.c.live_profiles + (
        select(func.coalesce(func.sum(profile_count_deltas.c.delta), 0))
        .where(profile_count_deltas.c.database_id == databases.c.id)
        .scalar_subquery()
    )
    async with read_transaction(engine) as conn:
        row = (
            await conn.execute(
                select(databases.c.account_id, databases.c.id, resources.c.id)
                .join(accounts, accounts.c.id == databases.c.account_id)
                .join(database_resources, database_resources.c.database_id == databases.c.id)
                .join(resources, resources.c.id == database_resources.c.resource_id)
                .where(
                    accounts.c.name == BENCH_ACCOUNT,
                    databases.c.name == BENCH_NAME,
                    resources.c.name == BENCH_NAME,
                    live_profiles == profiles,
                )
                .order_by(databases.c.id.desc())
                .limit(1)
            )
        ).first()
    return None if row is None else Target(int(row[0]), int(row[1]), int(row[2]))


async def other_rows(engine: AsyncEngine, database_id: int) -> int:
    """Subscriptions of other databases in the same tables (they change the plans)."""
    async with read_transaction(engine) as conn:
        return int(
            await conn.scalar(
                text("SELECT count(*) FROM (SELECT 1 FROM subscriptions WHERE database_id <> :db LIMIT 1) x"),
                {"db": database_id},
            )
            or 0
        )


# ---------------------------------------------------------------------------- schema


def _schema_objects(cur: psycopg.Cursor[Any], table: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(constraints that own or need an index, plain indexes) of ``table``: name and definition.

    Constraints: primary key, unique and exclusion constraints, and foreign keys (their
    checks cost a lookup per copied row). Check and NOT NULL constraints stay in place.
    """
    constraints = cur.execute(
        """
        SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
        WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'x', 'f')
        ORDER BY contype = 'f', conname
        """,
        [table],
    ).fetchall()
    indexes = cur.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = %s::regclass AND NOT EXISTS (
            SELECT 1 FROM pg_constraint c WHERE c.conrelid = x.indrelid AND c.conindid = x.indexrelid
                AND c.contype IN ('p', 'u', 'x'))
        ORDER BY i.relname
        """,
        [table],
    ).fetchall()
    return list(constraints), list(indexes)


def _drop(cur: psycopg.Cursor[Any], table: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    constraints, indexes = _schema_objects(cur, table)
    for name, definition in reversed(constraints):  # foreign keys first
        log(f"  drop constraint {name}: {definition}")
        cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(table), sql.Identifier(name)))
    for name, definition in indexes:
        log(f"  drop index {name}: {definition}")
        cur.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    return constraints, indexes


def _recreate(
    cur: psycopg.Cursor[Any], table: str, constraints: list[tuple[str, str]], indexes: list[tuple[str, str]]
) -> None:
    keys = [(name, d) for name, d in constraints if not d.startswith("FOREIGN KEY")]
    foreign = [(name, d) for name, d in constraints if d.startswith("FOREIGN KEY")]
    for name, definition in keys:
        started = time.perf_counter()
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(sql.Identifier(table), sql.Identifier(name))
            + sql.SQL(definition)  # type: ignore[arg-type]
        )
        log(f"  {name}: {time.perf_counter() - started:.1f} s")
    for name, definition in indexes:
        started = time.perf_counter()
        cur.execute(sql.SQL(definition))  # type: ignore[arg-type]
        log(f"  {name}: {time.perf_counter() - started:.1f} s")
    for name, definition in foreign:
        started = time.perf_counter()
        cur.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(sql.Identifier(table), sql.Identifier(name))
            + sql.SQL(definition)  # type: ignore[arg-type]
        )
        log(f"  {name} (validated): {time.perf_counter() - started:.1f} s")
    if _schema_objects(cur, table) != (constraints, indexes):
        raise RuntimeError(f"the recreated indexes of {table} differ from the dropped ones")


def _column_types(cur: psycopg.Cursor[Any], table: str, columns: tuple[str, ...]) -> list[int]:
    """The type oid of each column, for binary COPY.

    JSON columns get the Python value: psycopg's json dumper serialises it with json.dumps,
    as SQLAlchemy's JSON bind does for profiles_add (compared row for row with a
    profiles_add load of the same 20,000 demo profiles: identical but for the timestamps).
    """
    types = dict(
        cur.execute(
            "SELECT attname, atttypid::int FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0",
            [table],
        ).fetchall()
    )
    missing = [column for column in columns if column not in types]
    if missing:
        raise RuntimeError(f"{table} has no column(s) {missing}: the loader is out of date")
    return [types[column] for column in columns]


# ---------------------------------------------------------------------------- data


def copy_load(
    url: str,
    target: Target,
    count: int,
    *,
    batch: int = DEFAULT_BATCH,
    keep_indexes: bool = False,
    profiles: Iterator[ProfileInput] | None = None,
) -> LoadReport:
    """Load ``count`` demo profiles for ``target`` through COPY; see the module docstring."""
    report = LoadReport()
    source = profiles if profiles is not None else demo_profiles(count, target.resource_id)
    started = time.perf_counter()
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cur:
        cur.execute("SET maintenance_work_mem = '1GB'")
        cur.execute("SET synchronous_commit = off")
        dropped = {}
        if not keep_indexes:
            for table in TABLES:
                log(f"dropping the indexes and constraints of {table}")
                dropped[table] = _drop(cur, table)
        report.seconds["drop indexes"] = time.perf_counter() - started

        started = time.perf_counter()
        profile_types = _column_types(cur, "profiles", PROFILE_COLUMNS)
        copy_profiles = sql.SQL("COPY profiles ({}) FROM STDIN (FORMAT BINARY)").format(
            sql.SQL(", ").join(map(sql.Identifier, PROFILE_COLUMNS))
        )
        subscription_columns: tuple[str, ...] | None = None
        while items := list(itertools.islice(source, batch)):
            now = utcnow()
            ids = [
                row[0]
                for row in cur.execute(
                    "SELECT nextval(pg_get_serial_sequence('profiles', 'id')) FROM generate_series(1, %s)",
                    [len(items)],
                )
            ]
            with cur.copy(copy_profiles) as copy:
                copy.set_types(profile_types)
                for profile_id, item in zip(ids, items, strict=True):
                    values = [
                        profile_id,
                        target.account_id,
                        target.database_id,
                        item.email,
                        item.phones,
                        item.fields,
                        None if item.global_status is None else int(item.global_status),
                        False,
                        now,
                        now,
                    ]
                    copy.write_row(values)
            with cur.copy("COPY profile_phones (profile_id, phone, database_id) FROM STDIN") as copy:
                for profile_id, item in zip(ids, items, strict=True):
                    for phone in dict.fromkeys(item.phones):
                        copy.write_row((profile_id, phone, target.database_id))
            rows = (
                row
                for profile_id, item in zip(ids, items, strict=True)
                for row in new_subscription_rows(profile_id, target.database_id, item, now)
            )
            first = next(rows, None)
            if first is not None:
                if subscription_columns is None:
                    subscription_columns = tuple(first)
                    subscription_types = _column_types(cur, "subscriptions", subscription_columns)
                    copy_subscriptions = sql.SQL("COPY subscriptions ({}) FROM STDIN (FORMAT BINARY)").format(
                        sql.SQL(", ").join(map(sql.Identifier, subscription_columns))
                    )
                with cur.copy(copy_subscriptions) as copy:
                    copy.set_types(subscription_types)
                    for row in itertools.chain([first], rows):
                        copy.write_row([row[c] for c in subscription_columns])
                report.subscriptions += cur.rowcount
            report.profiles += len(items)
            elapsed = time.perf_counter() - started
            log(
                f"  copied {report.profiles:,}/{count:,} profiles, {report.subscriptions:,} subscriptions "
                f"({elapsed:.0f} s, {report.profiles / elapsed:,.0f} profiles/s)"
            )
        cur.execute(
            "UPDATE databases SET live_profiles = live_profiles + %s WHERE id = %s",
            [report.profiles, target.database_id],
        )
        report.seconds["generate + COPY"] = time.perf_counter() - started

        started = time.perf_counter()
        for table, objects in reversed(dropped.items()):
            log(f"recreating the indexes and constraints of {table}")
            _recreate(cur, table, *objects)
        report.seconds["recreate indexes"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.commit()
        report.seconds["commit"] = time.perf_counter() - started

        started = time.perf_counter()
        conn.autocommit = True
        for table in ("profiles", "subscriptions"):
            log(f"VACUUM ANALYZE {table}")
            cur.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))
        report.seconds["VACUUM ANALYZE"] = time.perf_counter() - started
    return report


def print_report(report: LoadReport) -> None:
    steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.seconds.items())
    log(
        f"loaded {report.profiles:,} profiles, {report.subscriptions:,} subscriptions in {report.total:.1f} s "
        f"({report.profiles / report.total:,.0f} profiles/s): {steps}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--keep-indexes", action="store_true", help="COPY with every index and constraint in place")
    args = parser.parse_args()
    ensure_database(args.database_url)
    engine = create_engine(args.database_url)
    await upgrade(engine)
    target = await create_target(engine)
    await engine.dispose()
    log(f"loading {args.profiles:,} profiles into {target}")
    report = await asyncio.to_thread(
        copy_load, args.database_url, target, args.profiles, batch=args.batch, keep_indexes=args.keep_indexes
    )
    print_report(report)


if __name__ == "__main__":
    asyncio.run(main())
