"""PostgreSQL drops every connection while workers run: they recover, no task is lost."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.counters.refresh import refresh_start
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import counter_sets, tasks
from tests.acceptance.test_many_processes import _catalog
from tests.processes import tally_processes

TERMINATE_OTHERS = text(
    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
)


async def _task_counts(engine: AsyncEngine) -> dict[str, int]:
    async with read_transaction(engine) as conn:
        rows = await conn.execute(select(tasks.c.status, func.count()).group_by(tasks.c.status))
    return {status: count for status, count in rows}


@pytest.mark.slow
async def test_workers_survive_terminated_connections(
    engine: AsyncEngine, backend: str, database_url: str, tmp_path: Path
) -> None:
    if backend != "postgres":
        pytest.skip("terminating server connections is a PostgreSQL test")
    _, pairs = await _catalog(engine)
    with tally_processes(database_url, tmp_path, env={"TALLY_LEASE_SECONDS": "3"}) as processes:
        workers = [processes.start("worker", "--concurrency", "2") for _ in range(2)]
        # Both started (schema checked, LISTEN on): a connection killed before that ends a
        # worker at start-up, which is not what this test is about.
        for _ in range(300):
            if processes.logs().count(" started (concurrency 2)") == 2:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # and their listeners connect
        async with write_transaction(engine) as conn:
            account_id = await conn.scalar(text("SELECT id FROM accounts WHERE name = 'many-processes'"))
            for database_id, resource_id in pairs[:120]:
                await refresh_start(conn, account_id, database_id, resource_id, recount=True)  # long enough
        killed = 0
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            counts = await _task_counts(engine)
            if counts.get("completed", 0) + counts.get("error", 0) == 120:
                break
            if killed < 4:
                async with engine.connect() as conn:
                    killed += 1 if await conn.scalar(TERMINATE_OTHERS) else 0
                    await conn.commit()
                await asyncio.sleep(0.7)
            else:
                await asyncio.sleep(0.3)
        assert all(worker.poll() is None for worker in workers), processes.logs()
    assert killed >= 2, "the test never caught the workers connected"
    counts = await _task_counts(engine)
    assert counts == {"completed": 120}, (counts, processes.logs())
    async with read_transaction(engine) as conn:
        assert await conn.scalar(select(func.count()).select_from(counter_sets)) == 120
