"""Deliveries survive workers: real ``tally worker`` processes, one of them killed mid-attempt."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.counters import refresh
from tally.feedback.routes import CAPABILITY as FEEDBACK
from tally.queue.worker import Worker
from tests.feedback.receiver import Receiver, Reply
from tests.feedback.support import refresh_with, wait_feedback
from tests.helpers import Api
from tests.processes import tally_processes
from tests.queue.support import registry_for

pytestmark = pytest.mark.slow

ENV = {
    "TALLY_FEEDBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "TALLY_FEEDBACK_RETRY_SCHEDULE": "0.2,0.2",
    "TALLY_FEEDBACK_TIMEOUT": "30",
    "TALLY_LEASE_SECONDS": "1",
    "TALLY_POLL_INTERVAL": "0.1",
    "TALLY_SHUTDOWN_GRACE": "1",
}


async def test_a_finished_task_is_delivered_by_a_worker_started_later(
    idle_api: Api, engine: AsyncEngine, settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    task_id = await refresh_with(idle_api, {"type": "XML", "url": receiver.url()})
    # A worker that only counts: it finishes the task (which queues the delivery) and is
    # gone before making the delivery, as if it had been killed right after the commit.
    counting_only = Worker(engine, settings, registry_for({refresh.KIND: refresh.run_refresh}, FEEDBACK.end_hooks))
    assert await counting_only.run_once()
    data = await idle_api.ok("tasks/status", {"task_id": task_id})
    assert data["status"] == "completed"
    assert [(e["status"], e["attempts"]) for e in data["feedback"]] == [("pending", 0)]

    with tally_processes(settings.database_url, tmp_path, ENV) as processes:
        processes.start("worker")
        data = await wait_feedback(idle_api, task_id, within=30)
        await asyncio.sleep(0.5)  # time for a duplicate, were there one

    assert [(e["status"], e["attempts"], e["last_error"]) for e in data["feedback"]] == [("delivered", 1, "")]
    assert receiver.answered == [200]
    assert len(receiver.requests) == 1
    assert receiver.requests[0].body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')


async def test_a_worker_killed_mid_attempt_is_replaced_and_delivers_once(
    idle_api: Api, settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    # The first attempt stalls (the worker waits: its timeout is 30 s) and its worker is
    # killed; the next worker retries once the lease expires, gets a 500, retries on the
    # TALLY_FEEDBACK_RETRY_SCHEDULE of its environment, and delivers.
    receiver.script([Reply(delay=60), Reply(500)])
    task_id = await refresh_with(idle_api, {"type": "JSON", "url": receiver.url()})

    with tally_processes(settings.database_url, tmp_path, ENV) as processes:
        first = processes.start("worker")
        await receiver.wait_for(1, within=30)
        first.kill()
        first.wait(10)
        processes.start("worker")
        data = await wait_feedback(idle_api, task_id, within=30)
        await asyncio.sleep(0.5)

    # The killed attempt is not counted (its worker could not record it): 500, then 200.
    assert [(e["status"], e["attempts"], e["last_error"]) for e in data["feedback"]] == [("delivered", 2, "")]
    assert receiver.answered == [500, 200]
    stalled, failed, delivered = receiver.requests
    assert stalled.webhook_id == failed.webhook_id == delivered.webhook_id
    assert stalled.body == failed.body == delivered.body
    assert delivered.at - failed.at >= 0.18
