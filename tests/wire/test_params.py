"""Parameter validation (api.md section 1): integers, required parameters, XML text."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tests.helpers import Api, make_app
from tests.wire.support import UUID4, assert_error, assert_listing, assert_ok, post_json, post_xml

# (value sent, how the error text shows it): every one is refused for a positive id.
NOT_POSITIVE: list[tuple[Any, str]] = [
    ([5], "[5]"),
    ({"id": 5}, "{'id': 5}"),
    (True, "true"),
    (False, "false"),
    (None, "null"),
    ("abc", "'abc'"),
    ("", "''"),
    ("5a", "'5a'"),
    ("+5", "'+5'"),
    ("0x10", "'0x10'"),
    ("1e3", "'1e3'"),
    ("5.0", "'5.0'"),
    ("-5", "'-5'"),
    (1.5, "1.5"),
    (-1, "-1"),
    (0, "0"),
    ("0", "'0'"),
    (2**63, "9223372036854775808"),
    (2**70, "1180591620717411303424"),
    (str(2**70), "'1180591620717411303424'"),
    ("9" * 5000, "'" + "9" * 73 + "...'"),
    (int("9" * 4300), "9" * 77 + "..."),
]

# method, its required integer parameters, and a valid body to vary one parameter in.
INT_METHODS = [
    ("databases/refresh_counters", ["id", "resource_id"]),
    ("resources/refresh_counters", ["id", "list_id"]),
    ("databases/get_counters", ["id", "resource_id"]),
    ("databases/get", ["id"]),
]
INT_CASES = [(method, name, names) for method, names in INT_METHODS for name in names]


@pytest.mark.parametrize(("method", "name", "names"), INT_CASES, ids=[f"{m}.{n}" for m, n, _ in INT_CASES])
async def test_params_integer_invalid_is_400_naming_parameter_and_value(
    api: Api, method: str, name: str, names: list[str]
) -> None:
    for value, shown in NOT_POSITIVE:
        body = {other: 1 for other in names} | {name: value}
        response = await api.raw(method, body)
        assert_error(response, 400, f"Invalid parameter: {name} must be a positive integer, got {shown}")


async def test_params_integer_missing_is_400(api: Api) -> None:
    for method, name, names in INT_CASES:
        body = {other: 1 for other in names if other != name}
        assert_error(await api.raw(method, body), 400, f"Missing parameter: {name}")


async def test_params_empty_body_names_first_parameter(api: Api) -> None:
    for method, _ in INT_METHODS:
        assert_error(await api.raw(method, {}), 400, "Missing parameter: id")


async def test_params_tasks_status_missing_task_id_is_400(api: Api) -> None:
    assert_error(await api.raw("tasks/status", {}), 400, "Missing parameter: task_id")


async def test_params_first_invalid_parameter_is_reported(api: Api) -> None:
    response = await api.raw("databases/refresh_counters", {"id": "x", "resource_id": "y"})
    assert_error(response, 400, "Invalid parameter: id must be a positive integer, got 'x'")


async def test_params_largest_integer_is_accepted(api: Api) -> None:
    response = await api.raw("databases/get", {"id": 2**63 - 1})
    assert_error(response, 404, "Database not found: 9223372036854775807")


async def test_params_integer_spellings_are_accepted(api: Api) -> None:
    for value in ["5", " 5 ", "005", 5.0]:
        assert_error(await api.raw("databases/get", {"id": value}), 404, "Database not found: 5")


async def test_params_digit_strings_start_a_refresh(engine: AsyncEngine, settings: Settings) -> None:
    # No worker: the first task stays queued, so the second call must find it (a worker
    # finishes a refresh of an empty database before the second request comes).
    async with make_app(settings, embedded_worker=False) as client:
        api = await Api.for_new_account(client, engine)
        database_id, resource_id = await api.setup_catalog()
        data = assert_ok(
            await api.raw("databases/refresh_counters", {"id": str(database_id), "resource_id": str(resource_id)})
        )
        assert set(data) == {"task_id"}
        assert data["task_id"]
        again = assert_ok(
            await api.raw("resources/refresh_counters", {"id": str(resource_id), "list_id": str(database_id)})
        )
        assert again == data  # the same pair, still queued: the same task


async def test_params_xml_integer_text_is_accepted(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    body = {"token": api.token, "id": database_id, "resource_id": resource_id}
    data = assert_ok(await post_xml(api.client, "databases/refresh_counters", body))
    assert list(data) == ["task_id"]
    counters = assert_ok(await post_xml(api.client, "databases/get_counters", body))
    assert [entry["channel"] for entry in counters] == ["email", "push", "sms"]
    got = assert_ok(await post_xml(api.client, "databases/get", {"token": api.token, "id": f" {database_id} "}))
    assert got["id"] == database_id  # an XML request still gets JSON unless asked


async def test_params_xml_invalid_integer_is_400(api: Api) -> None:
    body = {"token": api.token, "id": "12abc", "resource_id": 1}
    response = await post_xml(api.client, "databases/refresh_counters", body)
    assert_error(response, 400, "Invalid parameter: id must be a positive integer, got '12abc'")


async def test_params_xml_repeated_integer_is_400(api: Api) -> None:
    body = f"<xml><token>{api.token}</token><id>1</id><id>2</id></xml>"
    response = await api.client.post(
        "/api/v1.1/databases/get", content=body, headers={"Content-Type": "application/xml"}
    )
    assert_error(response, 400, "Invalid parameter: id must be a positive integer, got ['1', '2']")


async def test_params_xml_object_for_integer_is_400(api: Api) -> None:
    body = f"<xml><token>{api.token}</token><id><value>1</value></id></xml>"
    response = await api.client.post("/api/v1.1/databases/get", content=body, headers={"Content-Type": "text/xml"})
    assert_error(response, 400, "Invalid parameter: id must be a positive integer, got {'value': '1'}")


async def test_params_unknown_parameters_are_ignored(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    data = assert_ok(await api.raw("databases/get", {"id": database_id, "feedback": {"x": 1}, "extra": [1]}))
    assert data["id"] == database_id


# --- databases/list: optional from_id and limit ----------------------------------------


async def test_params_list_defaults(api: Api) -> None:
    assert assert_listing(await api.raw("databases/list", {})) == ([], 0, 0)


async def test_params_list_from_id_zero_is_accepted(api: Api) -> None:
    assert assert_listing(await api.raw("databases/list", {"from_id": 0, "limit": "1"})) == ([], 0, 0)


async def test_params_list_from_id_invalid_is_400(api: Api) -> None:
    for value, shown in [(-1, "-1"), ("abc", "'abc'"), ([1], "[1]"), (True, "true"), (1.5, "1.5"), (2**70, str(2**70))]:
        response = await api.raw("databases/list", {"from_id": value})
        assert_error(response, 400, f"Invalid parameter: from_id must be a non-negative integer, got {shown}")


async def test_params_list_limit_out_of_range_is_400(api: Api) -> None:
    for value, shown in [(0, "0"), ("0", "'0'"), (10_001, "10001")]:
        response = await api.raw("databases/list", {"limit": value})
        assert_error(response, 400, f"Invalid parameter: limit must be from 1 to 10000, got {shown}")


async def test_params_list_limit_wrong_type_is_400(api: Api) -> None:
    for value, shown in [(-1, "-1"), ({"a": 1}, "{'a': 1}"), (None, "null"), ("ten", "'ten'")]:
        response = await api.raw("databases/list", {"limit": value})
        assert_error(response, 400, f"Invalid parameter: limit must be a non-negative integer, got {shown}")


# --- resources/add: name, channels, dbs_ids --------------------------------------------


async def test_params_resource_add_missing_name_is_400(api: Api) -> None:
    assert_error(await api.raw("resources/add", {"channels": ["email"]}), 400, "Missing parameter: name")


async def test_params_resource_add_missing_channels_is_400(api: Api) -> None:
    assert_error(await api.raw("resources/add", {"name": "News"}), 400, "Missing parameter: channels")


async def test_params_resource_add_name_invalid_is_400(api: Api) -> None:
    cases: list[tuple[Any, str]] = [
        (5, "Invalid parameter: name must be a string, got 5"),
        (["a"], "Invalid parameter: name must be a string, got ['a']"),
        (None, "Invalid parameter: name must be a string, got null"),
        ("  ", "Invalid parameter: name must be a non-empty string of at most 200 characters, got '  '"),
        ("a\x00b", "Invalid parameter: name must not contain control characters or lone surrogates, got 'a\\x00b'"),
        ("a\ud800b", "Invalid parameter: name must not contain control characters or lone surrogates, got 'a\\ud800b'"),
    ]
    for value, text in cases:
        response = await post_json(api.client, "resources/add", {"token": api.token, "name": value, "channels": ["a"]})
        assert_error(response, 400, text)


async def test_params_resource_add_channels_invalid_is_400(api: Api) -> None:
    cases: list[tuple[Any, str]] = [
        ("email", "Invalid parameter: channels: Input should be a valid list, got 'email'"),
        ([], "Invalid parameter: channels must name at least one channel, got []"),
        ([5], "Invalid parameter: channels[0] must be a string, got 5"),
        (
            ["email", "fax"],
            "Invalid parameter: channels must list channels among email, sms, push, telegram_bot, viber, whatsapp,"
            " notify, got ['email', 'fax']",
        ),
    ]
    for value, text in cases:
        assert_error(await api.raw("resources/add", {"name": "News", "channels": value}), 400, text)


async def test_params_resource_add_dbs_ids_invalid_is_400(api: Api) -> None:
    cases: list[tuple[Any, str]] = [
        ([0], "dbs_ids[0] must be a positive integer, got 0"),
        ([1, "abc"], "dbs_ids[1] must be a positive integer, got 'abc'"),
        ([1, -2], "dbs_ids[1] must be a positive integer, got -2"),
        ([[1]], "dbs_ids[0] must be a positive integer, got [1]"),
        ([2**70], f"dbs_ids[0] must be a positive integer, got {2**70}"),
        ([True], "dbs_ids[0] must be a positive integer, got true"),
        (5, "dbs_ids: Input should be a valid list, got 5"),
    ]
    for value, text in cases:
        response = await api.raw("resources/add", {"name": "News", "channels": ["email"], "dbs_ids": value})
        assert_error(response, 400, f"Invalid parameter: {text}")


async def test_params_resource_add_xml_single_items_are_lists(api: Api) -> None:
    database_id = (await api.ok("databases/add", {"name": "Customers"}))["id"]
    body = f"<xml><token>{api.token}</token><name>News</name><channels>sms</channels>"
    body += f"<dbs_ids>{database_id}</dbs_ids></xml>"
    response = await api.client.post(
        "/api/v1.1/resources/add", content=body, headers={"Content-Type": "application/xml"}
    )
    resource_id = assert_ok(response)["id"]
    resource = await api.ok("resources/get", {"id": resource_id})
    assert (resource["channels"], resource["dbs_ids"]) == (["sms"], [database_id])


async def test_params_resource_add_xml_empty_dbs_ids_array(api: Api) -> None:
    body = {"token": api.token, "name": "News", "channels": ["email", "push"], "dbs_ids": []}
    resource_id = assert_ok(await post_xml(api.client, "resources/add", body))["id"]
    resource = await api.ok("resources/get", {"id": int(resource_id)})
    assert (resource["channels"], resource["dbs_ids"]) == (["email", "push"], [])


async def test_params_task_id_is_uuid4(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    data = await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})
    assert re.fullmatch(UUID4, data["task_id"]), data
