"""Test helpers: an API client that speaks the envelope, and app set-up."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.accounts.service import token_create
from tally.app import create_app
from tally.config import Settings
from tally.store.engine import write_transaction


@asynccontextmanager
async def make_app(settings: Settings, *, embedded_worker: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """The real ASGI app with its lifespan (engine, embedded worker) and a client on it."""
    app = create_app(settings, embedded_worker=embedded_worker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tally.test") as client:
            yield client


class Api:
    """Calls ``POST /api/v1.1/<method>`` with a token and returns the decoded envelope."""

    def __init__(self, client: httpx.AsyncClient, token: str, account_id: int) -> None:
        self.client = client
        self.token = token
        self.account_id = account_id

    @classmethod
    async def for_new_account(cls, client: httpx.AsyncClient, engine: AsyncEngine) -> Api:
        created = await token_create(engine, f"account-{uuid.uuid4().hex[:8]}")
        return cls(client, created.token, created.account_id)

    async def raw(self, method: str, body: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        payload = {"token": self.token, **(body or {})}
        return await self.client.post(f"/api/v1.1/{method}", json=payload, **kwargs)

    async def call(self, method: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The envelope of a call; fails the test if the HTTP status and error differ."""
        response = await self.raw(method, body)
        envelope: dict[str, Any] = response.json()
        assert response.status_code == (envelope["error"] or 200), envelope
        return envelope

    async def ok(self, method: str, body: dict[str, Any] | None = None) -> Any:
        """The ``data`` of a call that must succeed."""
        envelope = await self.call(method, body)
        assert envelope["error"] == 0, envelope
        return envelope["data"]

    async def wait_task(self, task_id: str, within: float = 30.0) -> dict[str, Any]:
        """tasks/status data once the task is completed or error."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            data: dict[str, Any] = await self.ok("tasks/status", {"task_id": task_id})
            if data["status"] in ("completed", "error"):
                return data
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"task {task_id} still {data['status']} after {within}s")
            await asyncio.sleep(0.02)

    async def setup_catalog(self, channels: list[str] | None = None) -> tuple[int, int]:
        """A database and a resource linked to it: (database_id, resource_id)."""
        database_id = (await self.ok("databases/add", {"name": "Customers"}))["id"]
        resource = {"name": "Newsletter", "channels": channels or ["email", "sms", "push"], "dbs_ids": [database_id]}
        resource_id = (await self.ok("resources/add", resource))["id"]
        return database_id, resource_id


Write = Callable[[AsyncConnection], Awaitable[object]]


async def writes_do_not_wait(engine: AsyncEngine, first: Write, second: Write) -> None:
    """``first`` writes and stays uncommitted while ``second`` writes and commits under a
    2 s lock timeout (PostgreSQL): a lock ``first`` held would make ``second`` fail."""
    first_written, second_done = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with write_transaction(engine) as conn:
            await first(conn)
            first_written.set()
            await asyncio.wait_for(second_done.wait(), 10)

    async def follow() -> None:
        await first_written.wait()
        async with write_transaction(engine) as conn:
            await conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            await second(conn)
        second_done.set()

    await asyncio.wait_for(asyncio.gather(hold(), follow()), 20)
