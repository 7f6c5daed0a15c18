"""Many API and worker processes on one database: every task runs once, counts are right."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.catalog.service import database_add, resource_add
from tally.profiles.input import ProfileInput, SubscriptionInput
from tally.profiles.service import profiles_add
from tally.profiles.statuses import Status
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import counter_sets, tasks
from tests.conftest import free_port
from tests.processes import tally_processes

DATABASES = 30
RESOURCES_PER_DATABASE = 10
PROFILES_PER_DATABASE = 21


async def _catalog(engine: AsyncEngine) -> tuple[str, list[tuple[int, int]]]:
    """An account with 30 databases of 21 profiles, each subscribed to its database's 10 resources.

    Profile i's email status is ``Status(i % 7)``: every status is held by exactly 3 profiles.
    """
    created = await token_create(engine, "many-processes")
    pairs = []
    async with write_transaction(engine) as conn:
        for d in range(DATABASES):
            database_id = await database_add(conn, created.account_id, f"db{d}", "")
            resource_ids = [
                await resource_add(conn, created.account_id, f"r{d}.{r}", ["email"], [database_id])
                for r in range(RESOURCES_PER_DATABASE)
            ]
            profiles = [
                ProfileInput(
                    email=f"p{i}@example.org",
                    phones=[],
                    global_status=None,
                    fields={},
                    subscriptions=[
                        SubscriptionInput(resource_id, "email", {"email": f"p{i}@example.org"}, Status(i % 7))
                        for resource_id in resource_ids
                    ],
                )
                for i in range(PROFILES_PER_DATABASE)
            ]
            await profiles_add(conn, created.account_id, database_id, profiles)
            pairs += [(database_id, resource_id) for resource_id in resource_ids]
    return created.token, pairs


async def _refresh(client: httpx.AsyncClient, port: int, token: str, database_id: int, resource_id: int) -> str:
    response = await client.post(
        f"http://127.0.0.1:{port}/api/v1.1/databases/refresh_counters",
        json={"token": token, "id": database_id, "resource_id": resource_id},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["task_id"])


async def _wait_all_finished(engine: AsyncEngine, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with read_transaction(engine) as conn:
            active = await conn.scalar(
                select(func.count()).select_from(tasks).where(tasks.c.status.in_(["queued", "processing"]))
            )
        if active == 0:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{active} tasks still active after {within}s")


@pytest.mark.slow
async def test_three_workers_and_two_apis_run_300_tasks_once_each(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    token, pairs = await _catalog(engine)
    assert len(pairs) == 300
    with tally_processes(database_url, tmp_path) as processes:
        ports = [free_port(), free_port()]
        for port in ports:
            processes.serve(port, "--no-worker")
        for _ in range(3):
            processes.start("worker", "--concurrency", "2")
        limit = asyncio.Semaphore(20)

        async def refresh(index: int, pair: tuple[int, int]) -> str:
            async with limit:
                return await _refresh(client, ports[index % 2], token, *pair)

        async with httpx.AsyncClient(timeout=30) as client:
            task_ids = await asyncio.gather(*(refresh(i, pair) for i, pair in enumerate(pairs)))
        assert len(set(task_ids)) == 300
        try:
            await _wait_all_finished(engine, within=120)
        except AssertionError:
            print(processes.logs())
            raise
    async with read_transaction(engine) as conn:
        finished = (await conn.execute(select(tasks.c.status, tasks.c.attempts))).all()
        counters = (await conn.execute(select(counter_sets.c.channels, counter_sets.c.total_count))).all()
    assert sorted(set(finished)) == [("completed", 1)]  # all completed, none claimed twice
    assert len(counters) == 300
    for channels, total in counters:
        assert total == PROFILES_PER_DATABASE
        [email] = channels
        expected = {status.word: 3 for status in Status} | {
            "all": 21,
            "subscribed_sendable": 3,
            "unconfirmed_sendable": 3,
        }
        assert email == {"channel": "email", "status": expected}


@pytest.mark.slow
async def test_simultaneous_identical_refreshes_through_two_apis_get_one_task(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    token, pairs = await _catalog(engine)
    database_id, resource_id = pairs[0]
    with tally_processes(database_url, tmp_path) as processes:
        ports = [free_port(), free_port()]
        for port in ports:
            processes.serve(port, "--no-worker")  # no worker: the first task stays queued
        async with httpx.AsyncClient(timeout=30) as client:
            task_ids = await asyncio.gather(
                *(_refresh(client, ports[i % 2], token, database_id, resource_id) for i in range(50))
            )
    assert len(set(task_ids)) == 1
    async with read_transaction(engine) as conn:
        assert await conn.scalar(select(func.count()).select_from(tasks)) == 1
