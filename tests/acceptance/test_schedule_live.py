"""A schedule on the real clock: ``tally serve`` and a ``tally worker``, its next due run
(at most a minute). That runs repeat, once per due time, is shown on a simulated clock
(tests/schedules/test_schedules.py); here the real clock, processes and polls do it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.catalog.service import database_add, resource_add
from tally.config import Settings
from tally.store.engine import write_transaction
from tests.conftest import POSTGRES_URL, free_port
from tests.processes import tally_processes


async def test_a_schedule_every_minute_runs_on_real_processes(
    engine: AsyncEngine, settings: Settings, backend: str, tmp_path: Path
) -> None:
    if backend != ("postgres" if POSTGRES_URL else "sqlite"):
        pytest.skip("one real-time run is enough: on PostgreSQL when it is there")
    created = await token_create(engine, "live")
    async with write_transaction(engine) as conn:
        database_id = await database_add(conn, created.account_id, "Customers", "")
        resource_id = await resource_add(conn, created.account_id, "News", ["email"], [database_id])
    port = free_port()
    # A short lease: the worker's maintenance (which queues due runs) runs every second.
    with tally_processes(settings.database_url, tmp_path, env={"TALLY_LEASE_SECONDS": "3"}) as tally:
        tally.serve(port, "--no-worker")
        tally.start("worker")
        api = f"http://127.0.0.1:{port}/api/v1.1"
        async with httpx.AsyncClient(base_url=api, timeout=10) as client:

            async def call(method: str, body: dict[str, object]) -> dict[str, object]:
                envelope = (await client.post(f"/{method}", json={"token": created.token, **body})).json()
                assert envelope["error"] == 0, envelope
                data: dict[str, object] = envelope["data"]
                return data

            body = {"db_id": database_id, "resource_id": resource_id, "cron": "* * * * *"}
            schedule = await call("schedules/add", body)
            last: object = ""
            for _ in range(150):  # the next minute boundary, and a margin
                last = (await call("schedules/get", {"id": schedule["id"]}))["last_task_id"]
                if last:
                    break
                await asyncio.sleep(0.5)
            assert last, tally.logs()
            for _ in range(60):
                status = await call("tasks/status", {"task_id": last})
                if status["status"] == "completed":
                    break
                await asyncio.sleep(0.5)
            assert status["status"] == "completed", status
            assert status["result"][0]["resource_id"] == resource_id  # it counted the schedule's pair
