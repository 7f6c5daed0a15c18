"""profiles/import, update, import_batch; get and delete by matching; profiles/list;
subscriptions/list and suspend_all (api.md section 4)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.counters.support import refresh
from tests.helpers import Api
from tests.profiles.test_xml import post_xml
from tests.wire.support import post_xml as wire_post_xml


def email_sub(resource_id: int, email: str, status: Any = "subscribed", priority: int = 0) -> dict[str, Any]:
    return {"resource_id": resource_id, "channel": "email", "email": email, "status": status, "priority": priority}


async def get(api: Api, profile_id: str) -> dict[str, Any]:
    data: dict[str, Any] = (await api.ok("profiles/get", {"profile_id": profile_id}))["data"]
    return data


async def test_import_adds_then_updates_by_email_ignoring_case_keeping_absent_fields(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    first = await api.ok(
        "profiles/import",
        {
            "db_id": database_id,
            "email": "Ann@Example.org",
            "data": {"_fname": "Ann", "city": "Riga", "subscriptions": [email_sub(resource_id, "ann@example.org")]},
        },
    )
    created = await get(api, first["profile_id"])
    # matching defaults to email; the key fills the email of a new profile, as given.
    assert (created["email"], created["_fname"], created["city"]) == ("Ann@Example.org", "Ann", "Riga")
    second = await api.ok(
        "profiles/import",
        {"db_id": database_id, "matching": "email", "data": {"email": "ANN@example.ORG", "city": "Tallinn"}},
    )
    assert second == first
    updated = await get(api, first["profile_id"])
    assert (updated["email"], updated["_fname"], updated["city"]) == ("ANN@example.ORG", "Ann", "Tallinn")
    assert [sub["email"] for sub in updated["subscriptions"]] == ["ann@example.org"]
    listed = await api.call("profiles/list", {"db_id": database_id})
    assert (listed["total_count"], len(listed["data"])) == (1, 1)


async def test_import_upserts_subscriptions_by_identity_and_keeps_the_others(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    subs = [email_sub(resource_id, "a@example.org"), email_sub(resource_id, "b@example.org", priority=1)]
    created = await api.ok(
        "profiles/add", {"db_id": database_id, "data": {"email": "a@example.org", "subscriptions": subs}}
    )
    change = [email_sub(resource_id, "b@example.org", "unsubscribed", 1), email_sub(resource_id, "c@example.org")]
    await api.ok("profiles/import", {"db_id": database_id, "email": "a@example.org", "data": {"subscriptions": change}})
    shown = {
        sub["email"]: (sub["status"], sub["is_effective"])
        for sub in (await get(api, created["profile_id"]))["subscriptions"]
    }
    # c is the most recent change at priority 0, so it is effective now.
    assert shown == {
        "a@example.org": ("subscribed", False),
        "b@example.org": ("unsubscribed", False),
        "c@example.org": ("subscribed", True),
    }


async def test_status_change_by_update_recomputes_sendable(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email"])
    sub = email_sub(resource_id, "ann@example.org")
    created = await api.ok(
        "profiles/add", {"db_id": database_id, "data": {"email": "ann@example.org", "subscriptions": [sub]}}
    )

    async def email_counts() -> tuple[int, int]:
        [element] = (await refresh(api, database_id, resource_id))["result"]
        status = element["channels"][0]["status"]
        return status["subscribed"], status["subscribed_sendable"]

    assert await email_counts() == (1, 1)
    ref = {"db_id": database_id, "matching": "profile_id", "profile_id": created["profile_id"]}
    await api.ok("profiles/update", ref | {"data": {"_status": "unsubscribed"}})
    assert await email_counts() == (1, 0)
    await api.ok("profiles/update", ref | {"data": {"_status": 0}})
    assert await email_counts() == (1, 1)


async def test_matching_by_phone_normalises_and_reads_the_key_from_data(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    created = await api.ok(
        "profiles/import", {"db_id": database_id, "matching": "phone", "data": {"phone": "+7 (900) 123-45-67"}}
    )
    data = await get(api, created["profile_id"])
    # The key joins the phones of a new profile; it is not a custom field.
    assert data["phones"] == ["+7 (900) 123-45-67"] and "phone" not in data
    for phone in ("+79001234567", "0079001234567", " +7 900 123 45 67 "):
        again = await api.ok("profiles/update", {"db_id": database_id, "matching": "phone", "phone": phone, "data": {}})
        assert again == created, phone
    by_phones = await api.ok(
        "profiles/import", {"db_id": database_id, "matching": "phone", "data": {"phones": ["+79001234567", "+1"]}}
    )
    assert by_phones == created
    assert (await get(api, created["profile_id"]))["phones"] == ["+79001234567", "+1"]
    found = await api.ok("profiles/get", {"db_id": database_id, "matching": "phone", "phone": "+7-900-123-45-67"})
    assert found["profile_id"] == created["profile_id"]


async def test_update_and_profile_id_matching_never_create(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    for body in (
        {"db_id": database_id, "email": "nobody@example.org", "data": {}},
        {"db_id": database_id, "matching": "profile_id", "profile_id": "999999", "data": {}},
    ):
        envelope = await api.call("profiles/update", body)
        assert envelope["error"] == 404 and envelope["error_text"].startswith("Profile not found"), envelope
    envelope = await api.call(
        "profiles/import", {"db_id": database_id, "matching": "profile_id", "profile_id": "7", "data": {}}
    )
    assert (envelope["error"], envelope["error_text"]) == (404, "Profile not found: 7")
    assert (await api.call("profiles/list", {"db_id": database_id}))["total_count"] == 0


async def test_bad_values_name_the_field(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    cases = [
        (
            {"db_id": database_id, "matching": "name", "data": {}},
            "Invalid parameter: matching must be one of email, phone, profile_id",
        ),
        ({"db_id": database_id, "data": {}}, "Missing parameter: email"),
        ({"db_id": database_id, "email": 5, "data": {}}, "Invalid parameter: email must be a non-empty string, got 5"),
        ({"db_id": database_id, "email": "a@x.org", "data": {"_status": "happy"}}, "Invalid parameter: data._status"),
        (
            {
                "db_id": database_id,
                "email": "a@x.org",
                "data": {"subscriptions": [email_sub(resource_id, "a@x.org", "x")]},
            },
            "Invalid parameter: data.subscriptions[0].status",
        ),
        ({"db_id": database_id, "email": "a@x.org", "data": [1]}, "Invalid parameter: data must be an object"),
    ]
    for body, text in cases:
        envelope = await api.call("profiles/import", body)
        assert envelope["error"] == 400 and envelope["error_text"].startswith(text), (body, envelope)


async def test_import_batch_items_fail_alone_and_apply_in_order(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    items = [
        {"email": "a@example.org", "city": "Riga"},
        {"city": "no key"},
        {"email": "A@EXAMPLE.ORG", "subscriptions": [email_sub(resource_id, "a@example.org", "unconfirmed")]},
        {"email": "b@example.org", "subscriptions": [{"resource_id": resource_id, "channel": "viber"}]},
        {"email": "a@example.org", "_status": "complained"},
    ]
    results = await api.ok("profiles/import_batch", {"db_id": database_id, "data": items})
    assert [result["error"] for result in results] == [0, 400, 0, 400, 0]
    assert "data[1]" in results[1]["error_text"]
    no_viber = f"Invalid parameter: resource {resource_id} has no channel 'viber' (it has email, push, sms)"
    assert results[3]["error_text"] == no_viber
    assert results[0]["profile_id"] == results[2]["profile_id"] == results[4]["profile_id"] != ""
    data = await get(api, results[0]["profile_id"])
    assert (data["city"], data["_status"], data["subscriptions"][0]["status"]) == ("Riga", "complained", "unconfirmed")
    assert (await api.call("profiles/list", {"db_id": database_id}))["total_count"] == 1


async def test_import_batch_xml_round_trip(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    inner = (
        f"<db_id>{database_id}</db_id><matching>email</matching>"
        "<data><email>x@example.org</email><city>Oslo</city></data>"
        "<data><email>X@example.org</email><age>40</age></data>"
    )
    envelope = await post_xml(api, "profiles/import_batch", inner)
    [first, second] = envelope["data"]
    assert first["profile_id"] == second["profile_id"]
    data = await get(api, first["profile_id"])
    assert (data["city"], data["age"]) == ("Oslo", "40")
    one = await post_xml(
        api,
        "profiles/import",
        f"<db_id>{database_id}</db_id><email>x@EXAMPLE.org</email><data><city>Bergen</city></data>",
    )
    assert one["data"] == {"profile_id": first["profile_id"]}


async def test_foreign_and_unknown_ids_are_not_found(api: Api, engine: AsyncEngine) -> None:
    database_id, _ = await api.setup_catalog()
    created = await api.ok("profiles/import", {"db_id": database_id, "email": "a@example.org", "data": {}})
    other = await Api.for_new_account(api.client, engine)
    for method, body in (
        ("profiles/import", {"db_id": database_id, "email": "a@example.org", "data": {}}),
        ("profiles/import_batch", {"db_id": database_id, "data": [{"email": "a@example.org"}]}),
        ("profiles/get", {"db_id": database_id, "matching": "email", "email": "a@example.org"}),
        ("profiles/delete", {"profile_id": created["profile_id"]}),
        ("profiles/list", {"db_id": database_id}),
        ("subscriptions/list", {"db_id": database_id, "profile_id": created["profile_id"]}),
        ("subscriptions/suspend_all", {"db_id": database_id}),
        ("subscriptions/suspend_all", {"db_id": 987654}),
    ):
        envelope = await other.call(method, body)
        assert envelope["error"] == 404, (method, envelope)
    envelope = await api.call("subscriptions/suspend_all", {"db_id": database_id, "resource_id": 987654})
    assert (envelope["error"], envelope["error_text"]) == (404, "Resource not found: 987654")
    assert (await api.ok("profiles/get", {"profile_id": created["profile_id"]}))["data"]["email"] == "a@example.org"


async def test_get_and_delete_by_email_need_the_database(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    created = await api.ok("profiles/import", {"db_id": database_id, "email": "a@example.org", "data": {}})
    envelope = await api.call("profiles/get", {"matching": "email", "email": "a@example.org"})
    assert (envelope["error"], envelope["error_text"]) == (
        400,
        "Missing parameter: db_id (matching by email finds a profile within one database)",
    )
    await api.ok("profiles/delete", {"db_id": database_id, "matching": "email", "email": "A@example.org"})
    envelope = await api.call("profiles/get", {"profile_id": created["profile_id"]})
    assert envelope["error"] == 404


async def test_profiles_list_pages_by_id(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    items = [{"email": f"p{n}@example.org"} for n in range(5)]
    ids = [result["profile_id"] for result in await api.ok("profiles/add_batch", {"db_id": database_id, "data": items})]
    page = await api.call("profiles/list", {"db_id": database_id, "limit": 2})
    assert [item["profile_id"] for item in page["data"]] == ids[:2]
    assert (page["next_from_id"], page["total_count"]) == (int(ids[2]), 5)
    last = await api.call("profiles/list", {"db_id": database_id, "from_id": int(ids[4])})
    assert ([item["profile_id"] for item in last["data"]], last["next_from_id"]) == ([ids[4]], 0)


async def test_subscriptions_list_and_suspend_all(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email", "sms"])
    subs = [
        email_sub(resource_id, "a@example.org"),
        {"resource_id": resource_id, "channel": "sms", "phone": "+79001234567"},
    ]
    created = await api.ok("profiles/add", {"db_id": database_id, "data": {"subscriptions": subs}})
    listed = await api.call("subscriptions/list", {"db_id": database_id, "profile_id": created["profile_id"]})
    assert [(item["channel"], item["status"]) for item in listed["data"]] == [
        ("email", "subscribed"),
        ("sms", "subscribed"),
    ]
    assert (listed["next_from_id"], listed["total_count"]) == (0, 2)
    assert await api.ok("subscriptions/suspend_all", {"db_id": database_id, "channel": "sms"}) == {"changed": 1}
    assert await api.ok("subscriptions/suspend_all", {"db_id": database_id, "channel": "sms"}) == {"changed": 0}
    [element] = (await refresh(api, database_id, resource_id))["result"]
    by_channel = {entry["channel"]: entry["status"] for entry in element["channels"]}
    assert (by_channel["sms"]["suspended"], by_channel["sms"]["subscribed_sendable"]) == (1, 0)
    assert by_channel["email"]["subscribed_sendable"] == 1
    assert await api.ok("subscriptions/suspend_all", {"db_id": database_id, "resource_id": resource_id}) == {
        "changed": 1
    }


async def test_every_new_method_answers_in_xml(api: Api) -> None:
    """XML in and out: each new method's answer, read back, says what the JSON one says."""
    database_id, resource_id = await api.setup_catalog()
    created = await api.ok(
        "profiles/import",
        {
            "db_id": database_id,
            "email": "x@example.org",
            "data": {"subscriptions": [email_sub(resource_id, "x@example.org")]},
        },
    )
    profile_id = created["profile_id"]
    by_email = {"db_id": database_id, "matching": "email", "email": "X@example.org"}
    calls: list[tuple[str, dict[str, Any], str]] = [
        (
            "profiles/import",
            by_email | {"data": {"city": "Oslo"}},
            f"<data><profile_id>{profile_id}</profile_id></data>",
        ),
        ("profiles/update", by_email | {"data": {"_status": "subscribed"}}, f"<profile_id>{profile_id}</profile_id>"),
        (
            "profiles/import_batch",
            {"db_id": database_id, "data": [{"email": "x@example.org"}]},
            f"<profile_id>{profile_id}</profile_id>",
        ),
        ("profiles/get", by_email, "<city>Oslo</city>"),
        ("profiles/list", {"db_id": database_id}, "<next_from_id>0</next_from_id><total_count>1</total_count>"),
        ("subscriptions/list", {"db_id": database_id, "profile_id": profile_id}, "<is_effective>true</is_effective>"),
        ("subscriptions/suspend_all", {"db_id": database_id}, "<changed>1</changed>"),
        ("profiles/delete", by_email, "<error>0</error>"),
    ]
    for method, body, expected in calls:
        response = await post_xml_body(api, method, body | {"format": "xml"})
        assert response.headers["content-type"].startswith("application/xml"), method
        text = response.text.replace("\n", "")
        assert "<error>0</error>" in text and expected in text, (method, text)
    assert (await api.call("profiles/list", {"db_id": database_id}))["total_count"] == 0


async def post_xml_body(api: Api, method: str, body: dict[str, Any]) -> Any:
    return await wire_post_xml(api.client, method, {"token": api.token, **body})
