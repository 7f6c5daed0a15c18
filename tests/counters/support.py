"""An API on an app with its own settings (a small count chunk), and refresh helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tests.helpers import Api, make_app


@asynccontextmanager
async def api_with_chunk_size(engine: AsyncEngine, settings: Settings, chunk_size: int) -> AsyncIterator[Api]:
    async with make_app(settings.with_(count_chunk_size=chunk_size)) as client:
        yield await Api.for_new_account(client, engine)


async def refresh(api: Api, database_id: int, resource_id: int, *, recount: bool = False) -> dict[str, Any]:
    """Run one refresh (a recount, with ``recount``) to its end; its tasks/status data
    (checked to be completed)."""
    body = {"id": database_id, "resource_id": resource_id} | ({"recount": True} if recount else {})
    task = await api.ok("databases/refresh_counters", body)
    status = await api.wait_task(task["task_id"])
    assert status["status"] == "completed", status
    assert status["progress"] == 100
    return status
