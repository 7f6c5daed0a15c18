"""Stopping a worker: running tasks get the grace period, then go back to the queue."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.queue.worker import Worker
from tally.store.engine import write_transaction
from tally.store.types import utcnow
from tests.queue.support import insert_task, registry_for, task_row
from tests.queue.test_worker import Gate


async def test_worker_stop_past_grace_puts_running_task_back(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    task_id = await insert_task(engine, account_id, now=utcnow())
    gate = Gate()  # never released: the task outlives the grace period
    worker = Worker(engine, settings.with_(shutdown_grace=0.2), registry_for({"test": gate.run}))
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
    worker = Worker(engine, settings.with_(shutdown_grace=10), registry_for({"test": gate.run}))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(gate.started.wait(), 10)
    stop.set()
    await asyncio.sleep(0.2)
    gate.release.set()
    await asyncio.wait_for(running, 10)
    row = await task_row(engine, task_id)
    assert (row.status, row.result) == ("completed", ["done"])


async def test_worker_stop_survives_a_database_error_while_putting_tasks_back(
    engine: AsyncEngine, settings: Settings, account_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    # The release fails (here: its table is gone); run() must still return, with its
    # maintenance and listener helpers stopped, and say that the lease will expire.
    task_id = await insert_task(engine, account_id, now=utcnow())
    gate = Gate()
    worker = Worker(engine, settings.with_(shutdown_grace=0.1), registry_for({"test": gate.run}))
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    await asyncio.wait_for(gate.started.wait(), 10)
    async with write_transaction(engine) as conn:
        await conn.execute(text("ALTER TABLE tasks RENAME TO tasks_elsewhere"))
    try:
        with caplog.at_level(logging.WARNING, logger="tally.worker"):
            stop.set()
            await asyncio.wait_for(running, 10)
    finally:
        async with write_transaction(engine) as conn:
            await conn.execute(text("ALTER TABLE tasks_elsewhere RENAME TO tasks"))
    helpers = [task for task in asyncio.all_tasks() if task.get_name() in ("tally-maintenance", "tally-listener")]
    assert helpers == []
    assert any(f"could not put task {task_id} back" in record.getMessage() for record in caplog.records)
    assert (await task_row(engine, task_id)).status == "processing"  # until its lease expires
