"""databases/delete and resources/delete (ext): what hangs on them goes (on each backend), 404,
and 409 while a task of them is queued or running."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.queue.queries import task_claim, task_complete, task_insert
from tally.store.engine import write_transaction
from tally.store.tables import (
    counter_sets,
    database_resources,
    profile_count_deltas,
    profile_phones,
    profiles,
    subscription_counts,
    subscriptions,
)
from tally.store.types import utcnow
from tests.catalog.support import add_profile, count_rows, idle_api
from tests.helpers import Api
from tests.wire.support import assert_error, assert_ok, post_xml


@pytest.fixture
async def other(api: Api, engine: AsyncEngine) -> Api:
    """A second account on the same app."""
    return await Api.for_new_account(api.client, engine)


async def _refreshed(api: Api, database_id: int, resource_id: int) -> None:
    task = await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})
    assert (await api.wait_task(task["task_id"]))["status"] == "completed"


async def _filled(api: Api) -> tuple[int, int, int]:
    """Two databases linked to one resource, two profiles each, both pairs refreshed."""
    database_id, resource_id = await api.setup_catalog(["email", "sms"])
    kept = (await api.ok("databases/add", {"name": "Kept"}))["id"]
    await api.ok("resources/update", {"id": resource_id, "dbs_ids": [database_id, kept]})
    for n, target in enumerate([database_id, database_id, kept, kept]):
        await add_profile(api, target, resource_id, n, ("email", "sms"))
    for target in (database_id, kept):
        await _refreshed(api, target, resource_id)
    return database_id, kept, resource_id


# --- databases/delete ------------------------------------------------------------------


async def test_database_delete_removes_everything_that_hangs_on_it(api: Api, engine: AsyncEngine) -> None:
    database_id, kept, resource_id = await _filled(api)
    profile_ids = [profile["profile_id"] for profile in await api.ok("profiles/list", {"db_id": database_id})]
    ids = [int(profile_id) for profile_id in profile_ids]
    assert await count_rows(engine, profile_phones, database_id=database_id) == 2
    # The maintenance pass may have folded the count deltas already (every lease / 3): then
    # the database row holds them; either way there is something for the delete to remove.
    deltas = await count_rows(engine, profile_count_deltas, database_id=database_id)
    assert deltas > 0 or (await api.ok("databases/get", {"id": database_id}))["profiles_count"] == 2

    assert await api.ok("databases/delete", {"id": database_id}) == {}

    assert_error(await api.raw("databases/get", {"id": database_id}), 404, f"Database not found: {database_id}")
    hanging = (profiles, subscriptions, profile_phones, profile_count_deltas, counter_sets, database_resources)
    for table in (*hanging, subscription_counts):
        assert await count_rows(engine, table, database_id=database_id) == 0, table.name
    for table in (subscriptions, profile_phones):
        assert await count_rows(engine, table, profile_id=ids) == 0, table.name
    # The other database, the resource and their rows stay.
    assert (await api.ok("resources/get", {"id": resource_id}))["dbs_ids"] == [kept]
    assert (await api.ok("databases/get", {"id": kept}))["profiles_count"] == 2
    assert await count_rows(engine, subscriptions, database_id=kept) == 4
    assert await count_rows(engine, profile_phones, database_id=kept) == 2
    assert await count_rows(engine, counter_sets, database_id=kept) == 1
    assert [item["id"] for item in await api.ok("databases/list")] == [kept]
    await _refreshed(api, kept, resource_id)


async def test_database_delete_in_xml(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    response = await post_xml(api.client, "databases/delete", {"token": api.token, "format": "xml", "id": database_id})
    assert assert_ok(response) == ""
    assert "<data>\n</data>\n<error>0</error>" in response.text
    assert_error(await api.raw("databases/get", {"id": database_id}), 404, f"Database not found: {database_id}")


async def test_database_delete_unknown_and_foreign_are_404_alike(api: Api, other: Api) -> None:
    database_id, _ = await api.setup_catalog()
    for who, target in [(other, database_id), (api, database_id + 1000)]:
        assert_error(await who.raw("databases/delete", {"id": target}), 404, f"Database not found: {target}")
    assert_error(
        await api.raw("databases/delete", {"id": "5x"}),
        400,
        "Invalid parameter: id must be a positive integer, got '5x'",
    )
    assert_error(await api.raw("databases/delete", {}), 400, "Missing parameter: id")
    assert (await api.ok("databases/get", {"id": database_id}))["id"] == database_id


async def test_database_delete_twice_is_404(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    await api.ok("databases/delete", {"id": database_id})
    assert_error(await api.raw("databases/delete", {"id": database_id}), 404, f"Database not found: {database_id}")


async def test_database_delete_while_a_refresh_is_queued_or_running_is_409(
    engine: AsyncEngine, settings: Settings
) -> None:
    async with idle_api(engine, settings) as api:
        database_id, resource_id = await api.setup_catalog()
        task_id = (await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id}))[
            "task_id"
        ]
        busy = (
            f"Database {database_id} has 1 queued or running task ({task_id}); delete it once it has ended "
            "(tasks/status)"
        )
        assert_error(await api.raw("databases/delete", {"id": database_id}), 409, busy)
        async with write_transaction(engine) as conn:
            claimed = await task_claim(conn, owner="test", now=utcnow(), lease=timedelta(minutes=5))
        assert claimed is not None and claimed.id == task_id
        assert_error(await api.raw("databases/delete", {"id": database_id}), 409, busy)
        async with write_transaction(engine) as conn:
            await task_complete(conn, task_id=task_id, owner="test", now=utcnow(), result=[])
        assert await api.ok("databases/delete", {"id": database_id}) == {}
        # The finished task stays readable.
        assert (await api.ok("tasks/status", {"task_id": task_id}))["status"] == "completed"


async def test_a_queued_feedback_delivery_of_a_finished_task_does_not_block(
    engine: AsyncEngine, settings: Settings
) -> None:
    async with idle_api(engine, settings) as api:
        database_id, resource_id = await api.setup_catalog()
        parent = (await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id}))[
            "task_id"
        ]
        async with write_transaction(engine) as conn:
            await task_claim(conn, owner="test", now=utcnow(), lease=timedelta(minutes=5))
            await task_complete(conn, task_id=parent, owner="test", now=utcnow(), result=[])
            await task_insert(
                conn,
                account_id=api.account_id,
                kind="feedback_delivery",
                params={"delivery_id": "00000000-0000-4000-8000-000000000000"},
                now=utcnow(),
                parent_id=parent,
            )
        assert await api.ok("resources/delete", {"id": resource_id}) == {}
        assert await api.ok("databases/delete", {"id": database_id}) == {}


async def test_another_pairs_refresh_does_not_block(engine: AsyncEngine, settings: Settings) -> None:
    async with idle_api(engine, settings) as api:
        database_id, resource_id = await api.setup_catalog()
        busy_database, busy_resource = await api.setup_catalog()
        await api.ok("databases/refresh_counters", {"id": busy_database, "resource_id": busy_resource})
        assert await api.ok("databases/delete", {"id": database_id}) == {}
        assert await api.ok("resources/delete", {"id": resource_id}) == {}


# --- resources/delete ------------------------------------------------------------------


async def test_resource_delete_removes_its_subscriptions_links_and_counters(api: Api, engine: AsyncEngine) -> None:
    database_id, kept, resource_id = await _filled(api)
    other_resource = (await api.ok("resources/add", {"name": "Other", "channels": ["email"], "dbs_ids": [kept]}))["id"]
    [profile] = await api.ok("profiles/list", {"db_id": kept, "limit": 1})
    own = {"resource_id": other_resource, "channel": "email", "email": "x@example.org"}
    await api.ok("subscriptions/set", {"db_id": kept, "profile_id": profile["profile_id"], **own})

    assert await api.ok("resources/delete", {"id": resource_id}) == {}

    assert_error(await api.raw("resources/get", {"id": resource_id}), 404, f"Resource not found: {resource_id}")
    for table in (subscriptions, subscription_counts, counter_sets, database_resources):
        assert await count_rows(engine, table, resource_id=resource_id) == 0, table.name
    # Profiles stay, and so do the other resource's subscriptions.
    assert (await api.ok("databases/get", {"id": database_id}))["profiles_count"] == 2
    assert (await api.ok("databases/get", {"id": kept}))["resources_ids"] == [other_resource]
    assert await count_rows(engine, subscriptions, resource_id=other_resource) == 1
    assert await count_rows(engine, profiles, database_id=[database_id, kept]) == 4
    assert [item["id"] for item in await api.ok("resources/list")] == [other_resource]


async def test_resource_delete_in_xml(api: Api) -> None:
    _, resource_id = await api.setup_catalog()
    response = await post_xml(api.client, "resources/delete", {"token": api.token, "format": "xml", "id": resource_id})
    assert assert_ok(response) == ""
    assert_error(await api.raw("resources/get", {"id": resource_id}), 404, f"Resource not found: {resource_id}")


async def test_resource_delete_unknown_and_foreign_are_404_alike(api: Api, other: Api) -> None:
    _, resource_id = await api.setup_catalog()
    for who, target in [(other, resource_id), (api, resource_id + 1000)]:
        assert_error(await who.raw("resources/delete", {"id": target}), 404, f"Resource not found: {target}")
    assert_error(
        await api.raw("resources/delete", {"id": -1}), 400, "Invalid parameter: id must be a positive integer, got -1"
    )
    assert (await api.ok("resources/get", {"id": resource_id}))["id"] == resource_id


async def test_resource_delete_while_a_refresh_is_queued_is_409(engine: AsyncEngine, settings: Settings) -> None:
    async with idle_api(engine, settings) as api:
        database_id, resource_id = await api.setup_catalog()
        second, _ = await api.setup_catalog()
        await api.ok("resources/update", {"id": resource_id, "dbs_ids": [database_id, second]})
        tasks = [
            (await api.ok("resources/refresh_counters", {"id": resource_id, "list_id": target}))["task_id"]
            for target in (database_id, second)
        ]
        response = await api.raw("resources/delete", {"id": resource_id})
        assert_error(
            response,
            409,
            f"Resource {resource_id} has 2 queued or running tasks ({tasks[0]}, {tasks[1]}); delete it once "
            "they have ended (tasks/status)",
        )
        assert (await api.ok("resources/get", {"id": resource_id}))["dbs_ids"] == [database_id, second]
