"""profiles/add, add_batch, get, delete: what is stored, and how bad input is refused."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api
from tests.profiles.cases import BAD_DATA, BAD_SUBSCRIPTIONS


def email_sub(resource_id: int, email: str = "ann@example.org", **extra: Any) -> dict[str, Any]:
    return {"resource_id": resource_id, "channel": "email", "email": email, **extra}


async def add(api: Api, database_id: int, data: Any) -> dict[str, Any]:
    return await api.call("profiles/add", {"db_id": database_id, "data": data})


async def test_profiles_add_returns_opaque_string_id_and_get_shows_data(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    data = {
        "email": "ann@example.org",
        "phones": ["+79001234567"],
        "_fname": "Ann",
        "_status": 4,
        "city": "Riga",
        "subscriptions": [
            email_sub(resource_id, status="unconfirmed", priority="3"),
            {"resource_id": resource_id, "channel": "sms", "phone": "+79001234567", "status": 4},
            {"resource_id": resource_id, "channel": "push", "provider": "android-firebase", "subscription_id": "fcm:1"},
        ],
    }
    created = await api.ok("profiles/add", {"db_id": database_id, "data": data})
    assert isinstance(created["profile_id"], str) and created["profile_id"]
    profile = await api.ok("profiles/get", {"profile_id": created["profile_id"]})
    assert profile["profile_id"] == created["profile_id"]
    assert profile["db_id"] == database_id
    stored = profile["data"]
    assert stored["email"] == "ann@example.org"
    assert stored["phones"] == ["+79001234567"]
    assert stored["_status"] == "unconfirmed"
    assert stored["_fname"] == "Ann"
    assert stored["city"] == "Riga"
    subscriptions = {sub["channel"]: sub for sub in stored["subscriptions"]}
    assert subscriptions["email"]["status"] == "unconfirmed"
    assert subscriptions["email"]["priority"] == 3
    assert subscriptions["sms"]["status"] == "unconfirmed"
    assert subscriptions["push"]["status"] == "subscribed"
    assert subscriptions["push"]["priority"] == 0


async def test_profiles_add_malformed_address_is_stored_as_given(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    sub = {"resource_id": resource_id, "channel": "sms", "phone": " 8 (900) 123-45-67 "}
    created = await api.ok("profiles/add", {"db_id": database_id, "data": {"subscriptions": [sub]}})
    profile = await api.ok("profiles/get", {"profile_id": created["profile_id"]})
    assert profile["data"]["subscriptions"][0]["phone"] == " 8 (900) 123-45-67 "


async def test_profiles_add_batch_results_in_request_order(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    items = [
        {"email": f"u{n}@example.org", "subscriptions": [email_sub(resource_id, f"u{n}@example.org")]} for n in range(5)
    ]
    results = await api.ok("profiles/add_batch", {"db_id": database_id, "data": items})
    assert [list(result) for result in results] == [["error", "error_text", "profile_id"]] * 5
    for n, result in enumerate(results):
        assert result["error"] == 0
        assert result["error_text"] == "Successful operation"
        profile = await api.ok("profiles/get", {"profile_id": result["profile_id"]})
        assert profile["data"]["email"] == f"u{n}@example.org"
    assert len({result["profile_id"] for result in results}) == 5


async def test_profiles_add_batch_bad_items_fail_alone(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email"])
    other_database, _ = await api.setup_catalog(["email"])
    unlinked = (await api.ok("resources/add", {"name": "Other", "channels": ["email"], "dbs_ids": [other_database]}))[
        "id"
    ]
    items: list[Any] = [
        {"email": "ok0@example.org"},
        {"_status": "sleeping"},
        {"subscriptions": [email_sub(resource_id)]},
        {"subscriptions": [{"resource_id": resource_id, "channel": "sms", "phone": "+79001234567"}]},
        {"subscriptions": [email_sub(unlinked)]},
        {"subscriptions": [email_sub(999_999)]},
        "not an object",
        {"email": "ok7@example.org"},
    ]
    envelope = await api.call("profiles/add_batch", {"db_id": database_id, "data": items})
    assert envelope["error"] == 0
    results = envelope["data"]
    assert [result["error"] for result in results] == [0, 400, 0, 400, 400, 404, 400, 0]
    assert "data[1]._status" in results[1]["error_text"]
    assert "'sleeping'" in results[1]["error_text"]
    assert results[3]["error_text"].startswith(f"Invalid parameter: resource {resource_id} has no channel 'sms'")
    assert results[4]["error_text"] == f"Invalid parameter: resource {unlinked} is not linked to database {database_id}"
    assert results[5]["error_text"] == "Resource not found: 999999"
    assert "data[6]" in results[6]["error_text"]
    for result in results:
        if result["error"]:
            assert result["profile_id"] == ""
    database = await api.ok("databases/get", {"id": database_id})
    assert database["profiles_count"] == 3
    stored = await api.ok("profiles/get", {"profile_id": results[7]["profile_id"]})
    assert stored["data"]["email"] == "ok7@example.org"


async def test_profiles_add_batch_over_limit_is_refused(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    envelope = await api.call("profiles/add_batch", {"db_id": database_id, "data": [{}] * 10_001})
    assert envelope["error"] == 400
    assert "10000" in envelope["error_text"] or "10,000" in envelope["error_text"]
    database = await api.ok("databases/get", {"id": database_id})
    assert database["profiles_count"] == 0


async def test_profiles_add_batch_at_limit_is_accepted(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    results = await api.ok("profiles/add_batch", {"db_id": database_id, "data": [{}] * 10_000})
    assert len(results) == 10_000
    assert all(result["error"] == 0 for result in results)


async def test_profiles_add_batch_empty_list_is_refused(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    envelope = await api.call("profiles/add_batch", {"db_id": database_id, "data": []})
    assert envelope["error"] == 400
    assert "data" in envelope["error_text"]


async def test_profiles_add_unlinked_resource_is_refused(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    _, other_resource = await api.setup_catalog()
    envelope = await add(api, database_id, {"subscriptions": [email_sub(other_resource)]})
    assert envelope["error"] == 400
    assert envelope["error_text"] == (
        f"Invalid parameter: resource {other_resource} is not linked to database {database_id}"
    )
    assert (await api.ok("databases/get", {"id": database_id}))["profiles_count"] == 0


async def test_profiles_add_channel_not_of_resource_is_refused(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email"])
    sub = {"resource_id": resource_id, "channel": "push", "provider": "p", "subscription_id": "s"}
    envelope = await add(api, database_id, {"subscriptions": [sub]})
    assert envelope["error"] == 400
    assert f"resource {resource_id} has no channel 'push'" in envelope["error_text"]


async def test_profiles_add_unknown_resource_is_not_found(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    envelope = await add(api, database_id, {"subscriptions": [email_sub(424_242)]})
    assert envelope["error"] == 404
    assert envelope["error_text"] == "Resource not found: 424242"


async def test_profiles_add_foreign_resource_is_not_found_like_unknown(api: Api, engine: Any) -> None:
    other = await Api.for_new_account(api.client, engine)
    _, foreign_resource = await other.setup_catalog()
    database_id, _ = await api.setup_catalog()
    envelope = await add(api, database_id, {"subscriptions": [email_sub(foreign_resource)]})
    assert envelope["error"] == 404
    assert envelope["error_text"] == f"Resource not found: {foreign_resource}"


async def test_profiles_add_foreign_database_is_not_found_like_unknown(api: Api, engine: Any) -> None:
    other = await Api.for_new_account(api.client, engine)
    foreign_database, _ = await other.setup_catalog()
    foreign = await add(api, foreign_database, {"email": "a@b.c"})
    assert foreign["error"] == 404
    assert foreign["error_text"] == f"Database not found: {foreign_database}"
    unknown = await add(api, 987_654, {"email": "a@b.c"})
    assert unknown["error"] == 404
    assert unknown["error_text"] == "Database not found: 987654"


async def test_profiles_add_bad_data_is_refused_naming_the_field(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    for data, field in BAD_DATA:
        envelope = await add(api, database_id, data)
        assert envelope["error"] == 400, (data, envelope)
        assert field in envelope["error_text"], (data, envelope)
        assert "data" not in envelope
    assert (await api.ok("databases/get", {"id": database_id}))["profiles_count"] == 0


async def test_profiles_add_bad_subscription_is_refused_naming_the_field(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    for change, field in BAD_SUBSCRIPTIONS:
        envelope = await add(api, database_id, {"subscriptions": [{**email_sub(resource_id), **change}]})
        assert envelope["error"] == 400, (change, envelope)
        assert f"data.subscriptions[0].{field}" in envelope["error_text"], (change, envelope)
    assert (await api.ok("databases/get", {"id": database_id}))["profiles_count"] == 0


async def test_profiles_add_missing_channel_is_refused(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    envelope = await add(api, database_id, {"subscriptions": [{"resource_id": resource_id, "email": "a@b.c"}]})
    assert envelope["error"] == 400
    assert envelope["error_text"] == "Missing parameter: data.subscriptions[0].channel"


async def test_profiles_add_priority_extremes_are_accepted(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    subs = [email_sub(resource_id, "a@b.c", priority=0), email_sub(resource_id, "d@e.f", priority=2**31 - 1)]
    created = await api.ok("profiles/add", {"db_id": database_id, "data": {"subscriptions": subs}})
    profile = await api.ok("profiles/get", {"profile_id": created["profile_id"]})
    assert sorted(sub["priority"] for sub in profile["data"]["subscriptions"]) == [0, 2**31 - 1]


async def test_profiles_add_lone_surrogate_is_refused(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    body = f'{{"token": "{api.token}", "db_id": {database_id}, "data": {{"city": "a\\ud800b"}}}}'
    response = await api.client.post(
        "/api/v1.1/profiles/add", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    envelope = response.json()
    assert envelope["error"] == 400, envelope
    assert "surrogate" in envelope["error_text"]


async def test_profiles_add_overlong_profile_email_is_refused(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    envelope = await add(api, database_id, {"email": "a" * 400 + "@example.org"})
    assert envelope["error"] == 400, envelope
    assert "data.email" in envelope["error_text"]


async def test_profiles_add_long_address_is_stored_and_identified(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    long_email = "é" * 3000 + "@example.org"
    created = await api.ok(
        "profiles/add", {"db_id": database_id, "data": {"subscriptions": [email_sub(resource_id, long_email)]}}
    )
    profile_id = created["profile_id"]
    change = {"db_id": database_id, "profile_id": profile_id, **email_sub(resource_id, long_email), "status": 1}
    await api.ok("subscriptions/set", change)
    profile = await api.ok("profiles/get", {"profile_id": profile_id})
    [sub] = profile["data"]["subscriptions"]
    assert sub["email"] == long_email
    assert sub["status"] == "unsubscribed"


async def test_profiles_get_foreign_and_unknown_are_not_found_alike(api: Api, engine: Any) -> None:
    other = await Api.for_new_account(api.client, engine)
    foreign_database, _ = await other.setup_catalog()
    foreign = await other.ok("profiles/add", {"db_id": foreign_database, "data": {"email": "x@y.z"}})
    foreign_id = foreign["profile_id"]
    unknown_id = str(int(foreign_id) + 1000)
    foreign_answer = await api.call("profiles/get", {"profile_id": foreign_id})
    unknown_answer = await api.call("profiles/get", {"profile_id": unknown_id})
    assert foreign_answer["error"] == unknown_answer["error"] == 404
    assert foreign_answer["error_text"] == f"Profile not found: {foreign_id}"
    assert unknown_answer["error_text"] == f"Profile not found: {unknown_id}"
    assert (await other.ok("profiles/get", {"profile_id": foreign_id}))["profile_id"] == foreign_id


async def test_profiles_get_malformed_id_is_not_found(api: Api) -> None:
    for profile_id in ["abc", "", "-1", "1.5", "0", True, 1.5, [1], {"id": 1}]:
        envelope = await api.call("profiles/get", {"profile_id": profile_id})
        assert envelope["error"] == 404, (profile_id, envelope)
        assert envelope["error_text"].startswith("Profile not found"), (profile_id, envelope)
    # A null key is no key.
    envelope = await api.call("profiles/get", {"profile_id": None})
    assert (envelope["error"], envelope["error_text"]) == (400, "Missing parameter: profile_id")


async def test_profiles_delete_then_get_is_not_found_and_count_drops(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    created = await api.ok("profiles/add", {"db_id": database_id, "data": {}})
    await api.ok("profiles/delete", {"profile_id": created["profile_id"]})
    envelope = await api.call("profiles/get", {"profile_id": created["profile_id"]})
    assert envelope["error"] == 404
    assert (await api.ok("databases/get", {"id": database_id}))["profiles_count"] == 0
    again = await api.call("profiles/delete", {"profile_id": created["profile_id"]})
    assert again["error"] == 404


async def test_profiles_get_huge_malformed_id_is_cut_in_the_error_text(api: Api) -> None:
    for method in ("profiles/get", "profiles/delete"):
        envelope = await api.call(method, {"profile_id": "x" * 200_000})
        assert envelope["error"] == 404, envelope
        assert envelope["error_text"] == "Profile not found: '" + "x" * 73 + "...'"


async def test_profiles_add_integral_number_is_an_integer_at_both_levels(api: Api) -> None:
    """One integer rule: 5.0 is 5 for db_id and inside a subscription; '5.0' is refused in both."""
    database_id, resource_id = await api.setup_catalog()
    sub = {**email_sub(resource_id), "resource_id": float(resource_id), "priority": 2.0}
    created = await api.ok("profiles/add", {"db_id": float(database_id), "data": {"subscriptions": [sub]}})
    [stored] = (await api.ok("profiles/get", {"profile_id": created["profile_id"]}))["data"]["subscriptions"]
    assert (stored["resource_id"], stored["priority"]) == (resource_id, 2)
    top = await api.call("profiles/add", {"db_id": f"{database_id}.0", "data": {}})
    assert top["error_text"] == f"Invalid parameter: db_id must be a positive integer, got '{database_id}.0'"
    sub = {**email_sub(resource_id), "resource_id": f"{resource_id}.0"}
    inner = await add(api, database_id, {"subscriptions": [sub]})
    assert inner["error_text"] == (
        f"Invalid parameter: data.subscriptions[0].resource_id must be a positive integer, got '{resource_id}.0'"
    )
