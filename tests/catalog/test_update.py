"""databases/update and resources/update (ext): changes, 404, 400 and the 409 of a change
that live subscriptions or a refresh depend on."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.store.tables import counter_sets, database_resources
from tests.catalog.support import add_profile, count_rows, idle_api
from tests.helpers import Api
from tests.wire.support import assert_error, assert_ok, post_xml


@pytest.fixture
async def other(api: Api, engine: AsyncEngine) -> Api:
    """A second account on the same app."""
    return await Api.for_new_account(api.client, engine)


# --- databases/update ------------------------------------------------------------------


async def test_database_update_answers_the_database_as_get_does(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    body = {"id": database_id, "name": "  Customers (EU) ", "description": "Shop sign-ups"}
    updated = await api.ok("databases/update", body)
    assert updated == {
        "id": database_id,
        "name": "Customers (EU)",
        "description": "Shop sign-ups",
        "profiles_count": 0,
        "resources_ids": [resource_id],
    }
    assert await api.ok("databases/get", {"id": database_id}) == updated


async def test_database_update_keeps_what_is_absent_or_null(api: Api) -> None:
    database_id = (await api.ok("databases/add", {"name": "Customers", "description": "All"}))["id"]
    assert (await api.ok("databases/update", {"id": database_id, "description": ""}))["name"] == "Customers"
    updated = await api.ok("databases/update", {"id": database_id, "name": "Clients", "description": None})
    assert (updated["name"], updated["description"]) == ("Clients", "")
    assert await api.ok("databases/update", {"id": database_id}) == updated


async def test_database_update_in_xml(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    body = {"token": api.token, "format": "xml", "id": database_id, "name": "Clients"}
    data = assert_ok(await post_xml(api.client, "databases/update", body))
    assert data == {
        "id": str(database_id),
        "name": "Clients",
        "description": "",
        "profiles_count": "0",
        "resources_ids": str(resource_id),
    }


async def test_database_update_unknown_and_foreign_are_404_alike(api: Api, other: Api) -> None:
    database_id, _ = await api.setup_catalog()
    for who, target in [(other, database_id), (api, database_id + 1000)]:
        response = await who.raw("databases/update", {"id": target, "name": "Mine"})
        assert_error(response, 404, f"Database not found: {target}")
    assert (await api.ok("databases/get", {"id": database_id}))["name"] == "Customers"


async def test_database_update_bad_values_are_400_naming_the_field(api: Api) -> None:
    database_id = (await api.ok("databases/add", {"name": "Customers"}))["id"]
    name_rule = "must be a non-empty string of at most 200 characters"
    for body, text in [
        ({}, "Missing parameter: id"),
        ({"id": "abc"}, "Invalid parameter: id must be a positive integer, got 'abc'"),
        ({"id": database_id, "name": "  "}, f"Invalid parameter: name {name_rule}, got '  '"),
        ({"id": database_id, "name": 5}, "Invalid parameter: name must be a string, got 5"),
        ({"id": database_id, "name": "x" * 201}, f"Invalid parameter: name {name_rule}, got '{'x' * 73}...'"),
        ({"id": database_id, "description": ["a"]}, "Invalid parameter: description must be a string, got ['a']"),
    ]:
        assert_error(await api.raw("databases/update", body), 400, text)
    response = await api.raw("databases/update", {"id": database_id, "description": "d" * 10_001})
    assert response.json()["error_text"].startswith("Invalid parameter: description must be at most 10000 characters")


# --- resources/update ------------------------------------------------------------------


async def test_resource_update_answers_the_resource_as_get_does(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email"])
    second = (await api.ok("databases/add", {"name": "Second"}))["id"]
    body = {"id": resource_id, "name": "Weekly", "channels": ["sms", "email", "sms"], "dbs_ids": [second, database_id]}
    updated = await api.ok("resources/update", body)
    assert updated == {
        "channels": ["email", "sms"],
        "dbs_ids": [database_id, second],
        "id": resource_id,
        "name": "Weekly",
    }
    assert await api.ok("resources/get", {"id": resource_id}) == updated
    assert (await api.ok("databases/get", {"id": second}))["resources_ids"] == [resource_id]


async def test_resource_update_keeps_what_is_absent(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email", "sms"])
    assert (await api.ok("resources/update", {"id": resource_id, "name": "Weekly"}))["channels"] == ["email", "sms"]
    updated = await api.ok("resources/update", {"id": resource_id, "channels": ["email"]})
    assert (updated["name"], updated["dbs_ids"]) == ("Weekly", [database_id])
    assert (await api.ok("resources/update", {"id": resource_id, "dbs_ids": []}))["dbs_ids"] == []


async def test_resource_update_in_xml(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email"])
    second = (await api.ok("databases/add", {"name": "Second"}))["id"]
    body = {"token": api.token, "format": "xml", "id": resource_id, "channels": ["email", "push"], "dbs_ids": [second]}
    data = assert_ok(await post_xml(api.client, "resources/update", body))
    assert data == {"channels": ["email", "push"], "dbs_ids": str(second), "id": str(resource_id), "name": "Newsletter"}
    # One element with array="true" and nothing in it is the empty list: unlink all.
    xml = f'<xml><token>{api.token}</token><id>{resource_id}</id><dbs_ids array="true"/></xml>'
    response = await api.client.post("/api/v1.1/resources/update", content=xml, headers={"Content-Type": "text/xml"})
    assert assert_ok(response)["dbs_ids"] == []
    assert database_id != second


async def test_resource_update_unknown_and_foreign_are_404_alike(api: Api, other: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    own_database, own_resource = await other.setup_catalog()
    for who, target in [(other, resource_id), (api, resource_id + 1000)]:
        assert_error(
            await who.raw("resources/update", {"id": target, "name": "X"}), 404, f"Resource not found: {target}"
        )
    # Another account's database in dbs_ids is not found, as in resources/add.
    for target in (database_id, database_id + 1000):
        body = {"id": own_resource, "dbs_ids": [own_database, target]}
        assert_error(await other.raw("resources/update", body), 404, f"Database not found: {target}")
    assert (await other.ok("resources/get", {"id": own_resource}))["dbs_ids"] == [own_database]


async def test_resource_update_bad_values_are_400_naming_the_field(api: Api) -> None:
    _, resource_id = await api.setup_catalog()
    channels_rule = "must list channels among email, sms, push, telegram_bot, viber, whatsapp, notify"
    name_rule = "must be a non-empty string of at most 200 characters"
    for body, text in [
        ({"name": "X"}, "Missing parameter: id"),
        ({"id": 0}, "Invalid parameter: id must be a positive integer, got 0"),
        ({"id": resource_id, "name": ""}, f"Invalid parameter: name {name_rule}, got ''"),
        ({"id": resource_id, "channels": []}, "Invalid parameter: channels must name at least one channel, got []"),
        ({"id": resource_id, "channels": ["fax"]}, f"Invalid parameter: channels {channels_rule}, got ['fax']"),
        ({"id": resource_id, "dbs_ids": ["x"]}, "Invalid parameter: dbs_ids[0] must be a positive integer, got 'x'"),
        ({"id": resource_id, "dbs_ids": 5}, "Invalid parameter: dbs_ids: Input should be a valid list, got 5"),
    ]:  # fmt: skip
        assert_error(await api.raw("resources/update", body), 400, text)


async def test_removing_a_channel_in_use_is_409_naming_it(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email", "sms", "push"])
    second = (await api.ok("databases/add", {"name": "Second"}))["id"]
    await api.ok("resources/update", {"id": resource_id, "dbs_ids": [database_id, second]})
    for n in range(3):
        await add_profile(api, database_id, resource_id, n, ("email", "sms"))
    await add_profile(api, second, resource_id, 3, ("sms",))
    response = await api.raw("resources/update", {"id": resource_id, "name": "Renamed", "channels": ["push"]})
    assert_error(
        response,
        409,
        f"Channel email of resource {resource_id} is in use: live subscriptions of 3 profiles in database "
        f"{database_id}; delete them (subscriptions/delete) first, or keep email in channels; channel sms of "
        f"resource {resource_id} is in use: live subscriptions of 4 profiles in databases {database_id}, "
        f"{second}; delete them (subscriptions/delete) first, or keep sms in channels",
    )
    # Nothing changed, the name included; a channel nobody uses goes.
    assert await api.ok("resources/get", {"id": resource_id}) == {
        "channels": ["email", "push", "sms"],
        "dbs_ids": [database_id, second],
        "id": resource_id,
        "name": "Newsletter",
    }
    assert (await api.ok("resources/update", {"id": resource_id, "channels": ["sms", "email"]}))["channels"] == [
        "email",
        "sms",
    ]


async def test_a_channel_used_only_by_dead_subscriptions_can_be_removed(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email", "sms"])
    deleted_profile = await add_profile(api, database_id, resource_id, 1, ("sms",))
    await api.ok("profiles/delete", {"profile_id": deleted_profile})
    live = await add_profile(api, database_id, resource_id, 2, ("email", "sms"))
    subscription = {"db_id": database_id, "profile_id": live, "resource_id": resource_id, "channel": "sms"}
    await api.ok("subscriptions/delete", {**subscription, "phone": "+79000000002"})
    assert (await api.ok("resources/update", {"id": resource_id, "channels": ["email"]}))["channels"] == ["email"]
    response = await api.raw("resources/update", {"id": resource_id, "channels": ["sms"]})
    assert_error(
        response,
        409,
        f"Channel email of resource {resource_id} is in use: live subscriptions of 1 profile in database "
        f"{database_id}; delete them (subscriptions/delete) first, or keep email in channels",
    )


async def test_unlinking_a_database_in_use_is_409_naming_it(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email"])
    second = (await api.ok("databases/add", {"name": "Second"}))["id"]
    await api.ok("resources/update", {"id": resource_id, "dbs_ids": [database_id, second]})
    await add_profile(api, database_id, resource_id, 1, ("email",))
    await add_profile(api, database_id, resource_id, 2, ("email",))
    response = await api.raw("resources/update", {"id": resource_id, "dbs_ids": [second]})
    assert_error(
        response,
        409,
        f"Database {database_id} is in use by resource {resource_id}: live subscriptions of 2 profiles; "
        f"delete them (subscriptions/delete) first, or keep {database_id} in dbs_ids",
    )
    assert (await api.ok("resources/get", {"id": resource_id}))["dbs_ids"] == [database_id, second]
    assert (await api.ok("resources/update", {"id": resource_id, "dbs_ids": [database_id]}))["dbs_ids"] == [database_id]


async def test_unlinking_drops_the_counters_of_the_pair(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog(["email"])
    task = await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})
    assert (await api.wait_task(task["task_id"]))["status"] == "completed"
    assert await count_rows(engine, counter_sets, database_id=database_id, resource_id=resource_id) == 1
    await api.ok("resources/update", {"id": resource_id, "dbs_ids": []})
    assert await count_rows(engine, counter_sets, database_id=database_id, resource_id=resource_id) == 0
    assert await count_rows(engine, database_resources, resource_id=resource_id) == 0
    # Linked again, it starts from zero (never refreshed), not from the old counters.
    await api.ok("resources/update", {"id": resource_id, "dbs_ids": [database_id]})
    [email] = await api.ok("databases/get_counters", {"id": database_id, "resource_id": resource_id})
    assert email["status"]["all"] == 0


async def test_unlinking_while_a_refresh_of_the_pair_is_queued_is_409(engine: AsyncEngine, settings: Settings) -> None:
    async with idle_api(engine, settings) as api:
        database_id, resource_id = await api.setup_catalog(["email", "sms"])
        task_id = (await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id}))[
            "task_id"
        ]
        response = await api.raw("resources/update", {"id": resource_id, "dbs_ids": []})
        assert_error(
            response,
            409,
            f"Database {database_id} has 1 queued or running task ({task_id}) with resource {resource_id}; "
            "unlink it once it has ended (tasks/status)",
        )
        # Other changes of the resource do not wait for the refresh.
        assert (await api.ok("resources/update", {"id": resource_id, "channels": ["email"]}))["channels"] == ["email"]


async def test_update_of_nothing_changes_nothing(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    before: dict[str, Any] = await api.ok("resources/get", {"id": resource_id})
    assert await api.ok("resources/update", {"id": resource_id}) == before
    assert await api.ok("resources/update", {"id": resource_id, "dbs_ids": [database_id, database_id]}) == before
