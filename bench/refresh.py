"""Refresh benchmark: the full task path against the engine's floor and a naive count.

Loads N demo profiles (deterministic), then measures, side by side in one run:

* ``refresh task``: queue a refresh, a worker claims it, counts chunk by chunk with
  progress, writes counters and result (what a user waits for);
* ``one aggregate``: the same aggregate over the covering index in one query, no chunks,
  no task (the floor on this engine);
* ``naive count``: what a service without maintained flags would run: pick the effective
  subscription with a window function at query time, join profiles for the global status.

Usage: python bench/refresh.py [--profiles N] [--database-url URL] [--repeat R]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.app import TASK_KINDS
from tally.catalog.service import database_add, resource_add
from tally.config import Settings
from tally.counters.refresh import refresh_start
from tally.demo import demo_profiles
from tally.profiles.service import profiles_add
from tally.queue.worker import Worker
from tally.store.engine import create_engine, is_sqlite, read_transaction, write_transaction
from tally.store.migrate import upgrade

ONE_AGGREGATE = """
SELECT channel, status, count(*), count(*) FILTER (WHERE is_sendable)
FROM subscriptions WHERE database_id = :db AND resource_id = :res AND is_effective
GROUP BY channel, status
"""
NAIVE_COUNT = """
SELECT channel, status, count(*),
       count(*) FILTER (WHERE is_deliverable AND status IN (0, 4)
                        AND (global_status IS NULL OR global_status IN (0, 4)))
FROM (
  SELECT s.channel, s.status, s.is_deliverable, p.global_status,
         row_number() OVER (PARTITION BY s.profile_id, s.channel
                            ORDER BY s.priority, s.change_seq DESC, s.id DESC) AS rank
  FROM subscriptions s JOIN profiles p ON p.id = s.profile_id
  WHERE s.database_id = :db AND s.resource_id = :res AND NOT s.is_deleted AND NOT p.is_deleted
) ranked
WHERE rank = 1
GROUP BY channel, status
"""


async def load(engine: AsyncEngine, count: int) -> tuple[int, int, int, float]:
    created = await token_create(engine, "bench")
    async with write_transaction(engine) as conn:
        database_id = await database_add(conn, created.account_id, "Bench", "")
        resource_id = await resource_add(conn, created.account_id, "Bench", ["email", "sms", "push"], [database_id])
    started = time.perf_counter()
    profiles = demo_profiles(count, resource_id)
    done = 0
    while batch := list(itertools.islice(profiles, 10_000)):
        async with write_transaction(engine) as conn:
            await profiles_add(conn, created.account_id, database_id, batch)
        done += len(batch)
        print(f"\rloading: {done:,}/{count:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if not is_sqlite(engine):
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE subscriptions"))
            await conn.execute(text("VACUUM ANALYZE profiles"))
    return created.account_id, database_id, resource_id, time.perf_counter() - started


async def timed(repeat: int, run: Callable[[], Awaitable[object]]) -> float:
    await run()  # warm-up
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chunk-size", type=int, default=Settings().count_chunk_size)
    args = parser.parse_args()
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    settings = Settings(database_url=url, count_chunk_size=args.chunk_size, poll_interval=0.01)
    engine = create_engine(url)
    await upgrade(engine)
    account_id, database_id, resource_id, load_seconds = await load(engine, args.profiles)
    worker = Worker(engine, settings, {kind.name: kind.run for kind in TASK_KINDS.values()})
    params = {"db": database_id, "res": resource_id}

    async def refresh_task() -> None:
        async with write_transaction(engine) as conn:
            await refresh_start(conn, account_id, database_id, resource_id)
        assert await worker.run_once()

    async def query(sql: str) -> None:
        async with read_transaction(engine) as conn:
            (await conn.execute(text(sql), params)).all()

    refresh = await timed(args.repeat, refresh_task)
    floor = await timed(args.repeat, lambda: query(ONE_AGGREGATE))
    naive = await timed(args.repeat, lambda: query(NAIVE_COUNT))
    async with read_transaction(engine) as conn:
        rows = await conn.scalar(text("SELECT count(*) FROM subscriptions"))
    await engine.dispose()

    print(
        f"engine {engine.dialect.name}, {args.profiles:,} profiles, {rows:,} subscriptions, "
        f"chunk {args.chunk_size:,} profiles, median of {args.repeat}"
    )
    print(
        f"load (profiles_add, 10,000 a batch)  {load_seconds:8.2f} s   {args.profiles / load_seconds:10,.0f} profiles/s"
    )
    print(f"{'measure':36} {'median':>10} {'vs one aggregate':>18}")
    for name, seconds in [
        ("refresh task (claim, chunks, finish)", refresh),
        ("one aggregate, covering index", floor),
        ("naive count (window function)", naive),
    ]:
        print(f"{name:36} {seconds * 1000:8.1f} ms {seconds / floor:17.2f}x")
    print(f"refresh task is {naive / refresh:.1f}x faster than the naive count")


if __name__ == "__main__":
    asyncio.run(main())
