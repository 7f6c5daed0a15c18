"""Unknown and foreign objects (api.md section 6): another account's is just not found."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.app import METHODS
from tests.helpers import Api
from tests.wire.support import assert_error, post_json

TASK_NOT_FOUND = "Task not found"


@pytest.fixture
async def other(api: Api, engine: AsyncEngine) -> Api:
    """A second account on the same app."""
    return await Api.for_new_account(api.client, engine)


async def test_foreign_database_is_reported_like_unknown(api: Api, other: Api) -> None:
    database_id, _ = await api.setup_catalog()
    unknown = database_id + 1000
    assert_error(await other.raw("databases/get", {"id": database_id}), 404, f"Database not found: {database_id}")
    assert_error(await other.raw("databases/get", {"id": unknown}), 404, f"Database not found: {unknown}")
    assert (await api.ok("databases/get", {"id": database_id}))["id"] == database_id


async def test_foreign_database_in_refresh_is_reported_like_unknown(api: Api, other: Api) -> None:
    database_id, _ = await api.setup_catalog()
    own_database, own_resource = await other.setup_catalog()
    for method, body in [
        ("databases/refresh_counters", {"id": database_id, "resource_id": own_resource}),
        ("resources/refresh_counters", {"id": own_resource, "list_id": database_id}),
        ("databases/get_counters", {"id": database_id, "resource_id": own_resource}),
    ]:
        assert_error(await other.raw(method, body), 404, f"Database not found: {database_id}")
    assert own_database != database_id


async def test_foreign_resource_in_refresh_is_reported_like_unknown(api: Api, other: Api) -> None:
    _, resource_id = await api.setup_catalog()
    own_database, _ = await other.setup_catalog()
    for rid in (resource_id, resource_id + 1000):
        for method, body in [
            ("databases/refresh_counters", {"id": own_database, "resource_id": rid}),
            ("resources/refresh_counters", {"id": rid, "list_id": own_database}),
            ("databases/get_counters", {"id": own_database, "resource_id": rid}),
        ]:
            assert_error(await other.raw(method, body), 404, f"Resource not found: {rid}")


async def test_foreign_database_in_resource_add_is_reported_like_unknown(api: Api, other: Api) -> None:
    database_id, _ = await api.setup_catalog()
    body = {"name": "News", "channels": ["email"], "dbs_ids": [database_id]}
    assert_error(await other.raw("resources/add", body), 404, f"Database not found: {database_id}")
    assert (await other.call("resources/list"))["total_count"] == 0


async def test_foreign_objects_are_not_listed(api: Api, other: Api) -> None:
    await api.setup_catalog()
    empty = {"data": [], "error": 0, "error_text": "Successful operation", "next_from_id": 0, "total_count": 0}
    assert await other.call("databases/list") == empty
    assert await other.call("resources/list") == empty


async def test_foreign_task_is_reported_like_unknown(api: Api, other: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    task_id = (await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id}))["task_id"]
    assert_error(await other.raw("tasks/status", {"task_id": task_id}), 404, TASK_NOT_FOUND)
    unknown = "00000000-0000-4000-8000-000000000000"
    assert_error(await other.raw("tasks/status", {"task_id": unknown}), 404, TASK_NOT_FOUND)
    assert (await api.ok("tasks/status", {"task_id": task_id}))["task_id"] == task_id


async def test_unlinked_resource_is_400(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    resource_id = (await api.ok("resources/add", {"name": "Alone", "channels": ["email"]}))["id"]
    response = await api.raw("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})
    assert_error(response, 400, f"Invalid parameter: resource {resource_id} is not linked to database {database_id}")


MALFORMED_TASK_IDS: list[Any] = [
    "",
    "   ",
    "abc",
    "6908adeb-346e-4f5e-9f68-df062bf795cf",
    "6908ADEB-346E-4F5E-9F68-DF062BF795CF",
    "x" * 10_000,
    "'; DROP TABLE tasks; --",
    "%",
    5,
    2**70,
    1.5,
    True,
    None,
    [],
    ["6908adeb-346e-4f5e-9f68-df062bf795cf"],
    {"id": "x"},
]


async def test_malformed_task_id_is_task_not_found(api: Api) -> None:
    for task_id in MALFORMED_TASK_IDS:
        response = await post_json(api.client, "tasks/status", {"token": api.token, "task_id": task_id})
        assert_error(response, 404, TASK_NOT_FOUND)


async def test_task_id_with_nul_or_lone_surrogate_is_task_not_found(api: Api) -> None:
    # Neither can reach the database (PostgreSQL refuses NUL; no database encodes "\ud800").
    for task_id in ["a\x00b", "\ud800", "6908adeb-346e-4f5e-9f68-df062bf795c\x00"]:
        response = await post_json(api.client, "tasks/status", {"token": api.token, "task_id": task_id})
        assert_error(response, 404, TASK_NOT_FOUND)


async def test_malformed_task_id_in_xml_is_task_not_found(api: Api) -> None:
    for element in ["<task_id/>", "<task_id>zz</task_id>", "<task_id><a>1</a></task_id>", '<task_id array="true"/>']:
        body = f"<xml><token>{api.token}</token>{element}</xml>"
        response = await api.client.post("/api/v1.1/tasks/status", content=body, headers={"Content-Type": "text/xml"})
        assert_error(response, 404, TASK_NOT_FOUND)


async def test_unknown_token_is_401_before_anything_else(api: Api) -> None:
    for method in ["tasks/status", "databases/get", "databases/refresh_counters", "resources/add"]:
        response = await post_json(api.client, method, {"token": api.token + "x", "id": 1, "task_id": "t"})
        assert_error(response, 401, "Invalid token: unknown or revoked")


async def test_token_that_cannot_exist_is_401(api: Api) -> None:
    for token in ["\ud800", "tly_\x00", "tly_\u00e9", "tly_\n", api.token + "\x00"]:
        response = await post_json(api.client, "databases/list", {"token": token})
        assert_error(response, 401, "Invalid token: unknown or revoked")


async def test_missing_token_on_a_task_is_401(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    task_id = (await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id}))["task_id"]
    response = await post_json(api.client, "tasks/status", {"task_id": task_id})
    assert_error(response, 401, "Missing token: pass it as the token parameter or as 'Authorization: Bearer <token>'")


#: What ``id`` names in each area's methods.
ID_OF_AREA = {"databases": "database", "resources": "resource", "schedules": "schedule"}


def _with_objects(path: str, value: Any, objects: dict[str, Any]) -> Any:
    """A method's example (wire/methods.py) with each id in it replaced by one of ``objects``."""
    area = path.split("/")[0]
    if isinstance(value, dict):
        replaced = {key: _with_objects(path, item, objects) for key, item in value.items()}
        for key, kind in {"db_id": "database", "list_id": "database", "resource_id": "resource"}.items():
            if key in value:
                replaced[key] = objects[kind]
        if "profile_id" in value:
            replaced["profile_id"] = objects["profile"]
        if "task_id" in value:
            replaced["task_id"] = objects["task"]
        if "id" in value and area in ID_OF_AREA:
            replaced["id"] = objects[ID_OF_AREA[area]]
        if "dbs_ids" in value:
            replaced["dbs_ids"] = [objects["database"]]
        return replaced
    if isinstance(value, list):
        return [_with_objects(path, item, objects) for item in value]
    return value


async def test_every_method_naming_another_accounts_object_is_404(api: Api, other: Api) -> None:
    """Each method whose example names an object, sent by a second account with the first
    account's ids, is 404 (and for the owner the same body finds its objects)."""
    database_id, resource_id = await api.setup_catalog()
    profile = {"email": "ann@example.org", "subscriptions": [{"resource_id": resource_id, "channel": "email"}]}
    profile_id = (await api.ok("profiles/add", {"db_id": database_id, "data": profile}))["profile_id"]
    schedule = {"db_id": database_id, "resource_id": resource_id, "cron": "0 6 * * *"}
    schedule_id = (await api.ok("schedules/add", schedule))["id"]
    task_id = (await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id}))["task_id"]
    objects = {"database": database_id, "resource": resource_id, "profile": profile_id}
    objects |= {"schedule": schedule_id, "task": task_id}

    naming = [method for method in METHODS if _with_objects(method.path, method.example, objects) != method.example]
    assert len(naming) == 29, [method.path for method in naming]
    for method in naming:
        body = _with_objects(method.path, method.example, objects)
        response = await other.raw(method.path, body)
        assert response.status_code == 404, (method.path, body, response.text)
        assert " not found" in response.json()["error_text"], (method.path, response.text)
    for method in naming:
        if method.path.endswith("/delete"):
            continue
        response = await api.raw(method.path, _with_objects(method.path, method.example, objects))
        assert response.status_code != 404, (method.path, response.text)
