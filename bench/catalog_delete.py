"""Catalog delete benchmark: how long databases/delete and resources/delete take, and what
they block meanwhile.

Loads two databases of N demo profiles each (one resource linked to both, so that the
tables also hold rows that stay), then, per measure, on a fresh load:

* ``databases/delete`` of one of them (ON DELETE CASCADE: profiles, phones, subscriptions,
  count deltas, links, counters), timed in its transaction;
* ``resources/delete`` of the resource (its subscriptions in both databases);

and, while each runs, how long a small write (databases/add) and a read (databases/get)
of another request wait: on SQLite the delete holds the one write lock until it commits,
so writes wait for all of it and reads (WAL) do not.

Usage: python bench/catalog_delete.py [--profiles N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.catalog import service
from tally.demo import demo_profiles
from tally.profiles.service import profiles_add
from tally.store.engine import create_engine, is_sqlite, read_transaction, write_transaction
from tally.store.migrate import upgrade
from tally.store.tables import metadata

BATCH = 10_000


async def _load(engine: AsyncEngine, count: int) -> tuple[int, list[int], int]:
    account_id = (await token_create(engine, f"bench-{time.time_ns()}")).account_id
    async with write_transaction(engine) as conn:
        database_ids = [await service.database_add(conn, account_id, f"db{i}", "") for i in range(2)]
        resource_id = await service.resource_add(conn, account_id, "News", ["email", "sms", "push"], database_ids)
    for database_id in database_ids:
        profiles = demo_profiles(count, resource_id, seed=database_id)
        while batch := list(itertools.islice(profiles, BATCH)):
            async with write_transaction(engine) as conn:
                await profiles_add(conn, account_id, database_id, batch)
    if not is_sqlite(engine):
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("profiles", "subscriptions", "profile_phones"):
                await conn.execute(text(f"VACUUM ANALYZE {table}"))
    return account_id, database_ids, resource_id


async def _empty(engine: AsyncEngine) -> None:
    async with write_transaction(engine) as conn:
        for table in reversed(metadata.sorted_tables):
            await conn.execute(table.delete())


async def _delete(engine: AsyncEngine, what: str, account_id: int, target: int) -> None:
    async with write_transaction(engine) as conn:
        if what == "databases/delete":
            await service.database_delete(conn, account_id, target)
        else:
            await service.resource_delete(conn, account_id, target)


async def _timed_beside(
    engine: AsyncEngine, account_id: int, kept_id: int, delete: Callable[[], Awaitable[None]]
) -> tuple[float, float, float]:
    """The delete's time, and the longest wait of a write and of a read started beside it."""

    async def write() -> float:
        started = time.perf_counter()
        async with write_transaction(engine) as conn:
            await service.database_add(conn, account_id, "beside", "")
        return time.perf_counter() - started

    async def read() -> float:
        started = time.perf_counter()
        async with read_transaction(engine) as conn:
            await service.database_get(conn, account_id, kept_id)
        return time.perf_counter() - started

    started = time.perf_counter()
    deleting = asyncio.create_task(delete())
    await asyncio.sleep(0.05)  # the delete has its locks
    write_wait, read_wait = await asyncio.gather(write(), read())
    await deleting
    return time.perf_counter() - started, write_wait, read_wait


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    backend = "SQLite" if is_sqlite(engine) else "PostgreSQL"
    try:
        for what in ("databases/delete", "resources/delete"):
            await _empty(engine)
            load_started = time.perf_counter()
            account_id, (deleted_id, kept_id), resource_id = await _load(engine, args.profiles)
            print(f"{backend}: loaded 2 x {args.profiles:,} profiles in {time.perf_counter() - load_started:.1f}s",
                  file=sys.stderr)  # fmt: skip
            target = deleted_id if what == "databases/delete" else resource_id
            delete = functools.partial(_delete, engine, what, account_id, target)
            took, write_wait, read_wait = await _timed_beside(engine, account_id, kept_id, delete)
            print(f"{backend} {what} ({args.profiles:,} profiles per database): {took:.2f}s; "
                  f"a write beside it waited {write_wait:.2f}s, a read {read_wait:.3f}s")  # fmt: skip
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
