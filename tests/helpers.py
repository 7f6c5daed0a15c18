"""Test helpers: an API client that speaks the envelope, and app set-up."""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.accounts.service import token_create
from tally.app import create_app
from tally.config import Settings
from tally.queue.known_statuses import CHANNEL, KnownStatuses
from tally.runtime import Runtime
from tally.store.engine import write_transaction


@asynccontextmanager
async def make_app(settings: Settings, *, embedded_worker: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """The real ASGI app with its lifespan (engine, embedded worker) and a client on it."""
    app = create_app(settings, embedded_worker=embedded_worker)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tally.test") as client:
            _RUNTIMES[client] = app.state.runtime
            yield client


#: The Runtime of each client's app (make_app).
_RUNTIMES: weakref.WeakKeyDictionary[httpx.AsyncClient, Runtime] = weakref.WeakKeyDictionary()


def runtime_of(client: httpx.AsyncClient) -> Runtime:
    """What the app of a make_app client runs with (its engine, its remembered statuses)."""
    return _RUNTIMES[client]


async def heard_all(known: KnownStatuses, engine: AsyncEngine, within: float = 5.0) -> None:
    """Until ``known`` has heard every task change committed before this call.

    An app remembers statuses (queue/known_statuses.py) and forgets one when the change is
    heard, milliseconds after its commit: a test that changes a task and polls at once would
    otherwise race that. PostgreSQL delivers notifications in commit order, so once a
    notification sent now is heard, so is every earlier one.
    """
    if not known.listening:
        return  # nothing is remembered
    name = f"barrier:{uuid.uuid4().hex}"
    known.remember(0, name, {}, names=[name], read_at=known.generation)
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_notify(:channel, :name)"), {"channel": CHANNEL, "name": name})
    deadline = asyncio.get_running_loop().time() + within
    while known.recall(0, name) is not None:
        assert asyncio.get_running_loop().time() < deadline, "the app did not hear a notification"
        await asyncio.sleep(0.002)


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
        if method == "tasks/status" and self.client in _RUNTIMES:
            runtime = runtime_of(self.client)
            await heard_all(runtime.known_statuses, runtime.engine)
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
