"""Stopping a worker: running tasks get the grace period, then go back to the queue."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.queue.worker import Worker
from tally.store.types import utcnow
from tests.queue.support import insert_task, task_row
from tests.queue.test_worker import Gate


async def test_worker_stop_past_grace_puts_running_task_back(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    task_id = await insert_task(engine, account_id, now=utcnow())
    gate = Gate()  # never released: the task outlives the grace period
    worker = Worker(engine, settings.with_(shutdown_grace=0.2), {"test": gate.run})
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(gate.started.wait(), 10)
    stop.set()
    await asyncio.wait_for(running, 10)
    row = await task_row(engine, task_id)
    assert gate.cancelled
    assert (row.status, row.lease_owner, row.attempts) == ("queued", None, 0)


async def test_worker_stop_within_grace_lets_task_finish(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    task_id = await insert_task(engine, account_id, now=utcnow())
    gate = Gate()
    worker = Worker(engine, settings.with_(shutdown_grace=10), {"test": gate.run})
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(gate.started.wait(), 10)
    stop.set()
    await asyncio.sleep(0.2)
    gate.release.set()
    await asyncio.wait_for(running, 10)
    row = await task_row(engine, task_id)
    assert (row.status, row.result) == ("completed", ["done"])
