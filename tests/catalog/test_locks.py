"""PostgreSQL: a catalog delete or change and a write that depends on it never interleave.

The change locks the database rows it touches; the writes (a refresh's start, a profile or
subscription write) pin them first, so one waits for the other's commit and then sees it.
SQLite needs none of this: a write transaction holds the one write lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.catalog import service
from tally.config import Settings
from tally.counters.refresh import refresh_start
from tally.store.engine import write_transaction
from tests.catalog.support import add_profile, idle_api
from tests.helpers import Api
from tests.wire.support import assert_error

T = TypeVar("T")


@pytest.fixture
async def api(engine: AsyncEngine, settings: Settings, backend: str) -> AsyncIterator[Api]:
    if backend != "postgres":
        pytest.skip("SQLite runs one write transaction at a time")
    async with idle_api(engine, settings) as api:
        yield api


async def _waits(call: Awaitable[T]) -> asyncio.Task[T]:
    """Start ``call`` and check that it is still waiting a moment later."""
    started = asyncio.ensure_future(call)
    await asyncio.sleep(0.5)
    assert not started.done(), started.result()
    return started


async def _answer(started: asyncio.Task[httpx.Response]) -> httpx.Response:
    return await asyncio.wait_for(started, 10)


async def test_a_refresh_started_first_makes_the_delete_409(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog()
    async with write_transaction(engine) as conn:
        task_id = await refresh_start(conn, api.account_id, database_id, resource_id)
        deleting = await _waits(api.raw("databases/delete", {"id": database_id}))
        resource_deleting = await _waits(api.raw("resources/delete", {"id": resource_id}))
    busy = f"has 1 queued or running task ({task_id}); delete it once it has ended (tasks/status)"
    assert_error(await _answer(deleting), 409, f"Database {database_id} {busy}")
    assert_error(await _answer(resource_deleting), 409, f"Resource {resource_id} {busy}")


async def test_a_delete_first_makes_the_refresh_and_the_writes_404(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog()
    profile_id = await add_profile(api, database_id, resource_id, 1, ("email",))
    subscription = {"resource_id": resource_id, "channel": "sms", "phone": "+79001234567"}
    async with write_transaction(engine) as conn:
        await service.database_delete(conn, api.account_id, database_id)
        started = [
            await _waits(api.raw("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})),
            await _waits(api.raw("profiles/add", {"db_id": database_id, "data": {"email": "new@example.org"}})),
            await _waits(
                api.raw("subscriptions/set", {"db_id": database_id, "profile_id": profile_id, **subscription})
            ),
            await _waits(api.raw("profiles/import", {"db_id": database_id, "email": "p1@example.org", "data": {}})),
        ]
        # A profile delete waits too, and then finds nothing to delete.
        deleting_profile = await _waits(api.raw("profiles/delete", {"profile_id": profile_id}))
    for call in started:
        assert_error(await _answer(call), 404, f"Database not found: {database_id}")
    assert (await _answer(deleting_profile)).json()["error"] == 404


async def test_a_channel_removal_first_makes_a_subscription_on_it_400(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog(["email", "sms"])
    profile_id = await add_profile(api, database_id, resource_id, 1, ("email",))
    subscription: dict[str, Any] = {"resource_id": resource_id, "channel": "sms", "phone": "+79001234567"}
    async with write_transaction(engine) as conn:
        await service.resource_update(
            conn, api.account_id, resource_id, name=None, channels=["email"], database_ids=None
        )
        setting = await _waits(
            api.raw("subscriptions/set", {"db_id": database_id, "profile_id": profile_id, **subscription})
        )
    response = await _answer(setting)
    assert response.status_code == 400, response.text
    assert response.json()["error_text"].startswith(f"Invalid parameter: resource {resource_id} has no channel 'sms'")


async def test_an_unlink_first_makes_a_subscription_to_it_400(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog(["email"])
    other_resource = await api.ok("resources/add", {"name": "Other", "channels": ["email"], "dbs_ids": [database_id]})
    profile_id = await add_profile(api, database_id, other_resource["id"], 1, ("email",))
    subscription = {"resource_id": resource_id, "channel": "email", "email": "p1@example.org"}
    async with write_transaction(engine) as conn:
        await service.resource_update(conn, api.account_id, resource_id, name=None, channels=None, database_ids=[])
        setting = await _waits(
            api.raw("subscriptions/set", {"db_id": database_id, "profile_id": profile_id, **subscription})
        )
    response = await _answer(setting)
    assert response.status_code == 400, response.text
    assert f"resource {resource_id}" in response.json()["error_text"]
