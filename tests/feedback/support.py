"""What the feedback tests share: starting a refresh with feedback and waiting for deliveries."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from ipaddress import ip_network
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tally.app import build_worker
from tally.config import Network, Settings
from tally.queue.worker import Worker
from tests.helpers import Api

LOOPBACK: tuple[Network, ...] = (ip_network("127.0.0.0/8"),)
SCHEDULE = (0.2, 0.2, 0.2)
FINAL = ("delivered", "failed")


@asynccontextmanager
async def running_worker(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Worker]:
    """Tally's worker (every task kind, feedback released) running until the block ends."""
    stop = asyncio.Event()
    worker = build_worker(engine, settings)
    running = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        await running


async def refresh_with(api: Api, *feedback: dict[str, Any], catalog: tuple[int, int] | None = None) -> str:
    """Start a refresh of a fresh (or the given) catalog with each feedback; the task id.

    With more than one feedback the app must have no worker (``idle_api``): all requests
    must reach the task while it is still queued.
    """
    database_id, resource_id = catalog or await api.setup_catalog()
    task_id = ""
    for one in feedback or (None,):
        body: dict[str, Any] = {"id": database_id, "resource_id": resource_id}
        if one is not None:
            body["feedback"] = one
        started = await api.ok("databases/refresh_counters", body)
        assert task_id in ("", started["task_id"])
        task_id = started["task_id"]
    return task_id


async def wait_feedback(api: Api, task_id: str, within: float = 15.0) -> dict[str, Any]:
    """tasks/status data once every delivery of the task is delivered or failed."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        data: dict[str, Any] = await api.ok("tasks/status", {"task_id": task_id})
        if data.get("feedback") and all(entry["status"] in FINAL for entry in data["feedback"]):
            return data
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"deliveries of {task_id} not final after {within}s: {data.get('feedback')}")
        await asyncio.sleep(0.02)


async def wait_attempts(api: Api, task_id: str, attempts: int, within: float = 10.0) -> dict[str, Any]:
    """The first delivery's tasks/status entry once it shows ``attempts`` attempts."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        data = await api.ok("tasks/status", {"task_id": task_id})
        entry: dict[str, Any] = data["feedback"][0]
        if entry["attempts"] >= attempts:
            return entry
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"delivery of {task_id} at {entry} after {within}s")
        await asyncio.sleep(0.01)


def without_feedback(envelope: dict[str, Any]) -> dict[str, Any]:
    """A tasks/status envelope as a delivery carries it: ``data`` without ``feedback``."""
    data = {key: value for key, value in envelope["data"].items() if key != "feedback"}
    return {**envelope, "data": data}


def xml_without_feedback(body: bytes) -> bytes:
    return re.sub(rb"\n<feedback>\n.*?\n</feedback>", b"", body, flags=re.DOTALL)


def ordered(value: Any) -> Any:
    """JSON with key order made visible (dict equality ignores it)."""
    return json.dumps(value)
