"""Task throughput with 1 and with 3 ``tally worker`` processes on one PostgreSQL database.

Queues 300 refresh tasks (30 databases x 10 resources, 21 profiles each) and times how long
the workers take to finish them, each worker count on the same data, side by side.

Usage: python bench/workers.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import func, select, text

from tally.accounts.service import token_create
from tally.catalog.service import database_add, resource_add
from tally.counters.refresh import refresh_start
from tally.profiles.input import ProfileInput, SubscriptionInput
from tally.profiles.service import profiles_add
from tally.profiles.statuses import Status
from tally.store.engine import create_engine, read_transaction, write_transaction
from tally.store.migrate import upgrade
from tally.store.tables import tasks

TALLY = str(Path(sys.executable).with_name("tally"))


async def load(url: str) -> tuple[int, list[tuple[int, int]]]:
    engine = create_engine(url)
    await upgrade(engine)
    created = await token_create(engine, "bench-workers")
    pairs = []
    async with write_transaction(engine) as conn:
        for d in range(30):
            database_id = await database_add(conn, created.account_id, f"db{d}", "")
            resources = [
                await resource_add(conn, created.account_id, f"r{d}.{r}", ["email"], [database_id]) for r in range(10)
            ]
            profiles = [
                ProfileInput(
                    f"p{i}@example.org",
                    [],
                    None,
                    {},
                    [SubscriptionInput(r, "email", {"email": f"p{i}@example.org"}, Status(i % 7)) for r in resources],
                )
                for i in range(21)
            ]
            await profiles_add(conn, created.account_id, database_id, profiles)
            pairs += [(database_id, r) for r in resources]
    await engine.dispose()
    return created.account_id, pairs


async def run(url: str, account_id: int, pairs: list[tuple[int, int]], workers: int) -> float:
    engine = create_engine(url)
    env = {**os.environ, "TALLY_POLL_INTERVAL": "0.2"}
    sync_url = url.replace("postgresql+psycopg://", "postgresql://")
    processes = [
        await asyncio.create_subprocess_exec(
            TALLY,
            "worker",
            "--concurrency",
            "2",
            "--database-url",
            sync_url,
            env=env,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for _ in range(workers)
    ]
    try:
        await asyncio.sleep(3)  # started and listening
        started = time.perf_counter()
        async with write_transaction(engine) as conn:
            for database_id, resource_id in pairs:
                await refresh_start(conn, account_id, database_id, resource_id)
        while True:
            async with read_transaction(engine) as conn:
                active = await conn.scalar(
                    select(func.count()).select_from(tasks).where(tasks.c.status.in_(["queued", "processing"]))
                )
            if active == 0:
                return time.perf_counter() - started
            await asyncio.sleep(0.05)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            await asyncio.wait_for(process.wait(), timeout=30)
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM tasks"))
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    name = f"tally_bench_workers_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(args.admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = "postgresql+psycopg://" + args.admin_url.split("://", 1)[1].rpartition("/")[0] + f"/{name}"
    try:
        account_id, pairs = await load(url)
        results = {workers: await run(url, account_id, pairs, workers) for workers in (1, 3)}
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"{len(pairs)} refresh tasks, each worker with --concurrency 2")
    for workers, seconds in results.items():
        print(f"{workers} worker(s): {seconds:6.2f} s  {len(pairs) / seconds:7.1f} tasks/s")
    print(f"3 workers vs 1: {results[1] / results[3]:.2f}x")


if __name__ == "__main__":
    asyncio.run(main())
