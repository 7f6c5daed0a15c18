"""The import write path in depth (profiles/import, update, import_batch): same keys in one
batch, key changes, phone keys, typed field values, revived subscriptions, ``_status`` and
flags, how bulk inserts encode values, and batches of 10,000 items."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.store.bulk import insert_rows
from tally.store.tables import profiles
from tests.counters.support import refresh
from tests.helpers import Api


def email_sub(resource_id: int, email: str, status: Any = "subscribed", priority: int = 0) -> dict[str, Any]:
    return {"resource_id": resource_id, "channel": "email", "email": email, "status": status, "priority": priority}


def sms_sub(resource_id: int, phone: str, status: Any = "subscribed", priority: int = 0) -> dict[str, Any]:
    return {"resource_id": resource_id, "channel": "sms", "phone": phone, "status": status, "priority": priority}


async def get(api: Api, profile_id: str) -> dict[str, Any]:
    data: dict[str, Any] = (await api.ok("profiles/get", {"profile_id": profile_id}))["data"]
    return data


async def counts(api: Api, database_id: int, resource_id: int) -> dict[str, dict[str, int]]:
    [element] = (await refresh(api, database_id, resource_id))["result"]
    return {entry["channel"]: entry["status"] for entry in element["channels"]}


async def found_by_phone(api: Api, database_id: int, phone: str) -> str | None:
    envelope = await api.call("profiles/get", {"db_id": database_id, "matching": "phone", "phone": phone})
    return None if envelope["error"] else str(envelope["data"]["profile_id"])


# 1. Several items of one batch with the same key.


async def test_batch_same_email_in_other_cases_is_one_profile_later_fields_win(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    stored = await api.ok("profiles/add", {"db_id": database_id, "data": {"email": "old@example.org", "city": "Oslo"}})
    items = [
        {"email": "Ann@Example.org", "city": "Riga", "_status": "subscribed"},
        {"email": " ann@example.ORG ", "city": "Tallinn", "age": 30},
        {"email": "OLD@example.org", "city": "Bergen"},
        {"email": "ANN@EXAMPLE.ORG", "_status": "complained", "subscriptions": [email_sub(resource_id, "a@x.org")]},
        {"email": "old@EXAMPLE.org", "city": "Turku"},
    ]
    results = await api.ok("profiles/import_batch", {"db_id": database_id, "data": items})
    assert [result["error"] for result in results] == [0] * 5
    ann = {results[index]["profile_id"] for index in (0, 1, 3)}
    old = {results[index]["profile_id"] for index in (2, 4)}
    assert len(ann) == 1 and old == {stored["profile_id"]} and ann != old
    data = await get(api, ann.pop())
    assert (data["email"], data["city"], data["age"], data["_status"]) == (
        "ANN@EXAMPLE.ORG",
        "Tallinn",
        30,
        "complained",
    )
    assert (await get(api, stored["profile_id"]))["city"] == "Turku"
    assert (await api.call("profiles/list", {"db_id": database_id}))["total_count"] == 2


async def test_batch_same_phone_in_other_forms_is_one_profile(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    items = [
        {"phone": "+7 900 123-45-67", "city": "Riga"},
        {"phones": ["0079001234567"], "city": "Tallinn"},
        {"phone": "+7 (900) 123 45 67", "subscriptions": [sms_sub(resource_id, "+79001234567")]},
        {"phone": "+79001234567", "age": 41},
    ]
    results = await api.ok("profiles/import_batch", {"db_id": database_id, "matching": "phone", "data": items})
    assert [result["error"] for result in results] == [0] * 4
    assert len({result["profile_id"] for result in results}) == 1
    data = await get(api, results[0]["profile_id"])
    assert (data["phones"], data["city"], data["age"]) == (["0079001234567"], "Tallinn", 41)
    assert [sub["phone"] for sub in data["subscriptions"]] == ["+79001234567"]
    again = await api.ok(
        "profiles/import_batch", {"db_id": database_id, "matching": "phone", "data": [{"phone": "+7-900-1234567"}]}
    )
    assert again[0]["profile_id"] == results[0]["profile_id"]
    assert (await api.call("profiles/list", {"db_id": database_id}))["total_count"] == 1


async def test_later_boolean_field_replaces_an_equal_number(api: Api) -> None:
    """``true`` after ``1`` (or ``0`` after ``false``) is a new value, not the same one."""
    database_id, _ = await api.setup_catalog()
    items = [{"email": "a@example.org", "vip": 1, "trial": False}, {"email": "a@example.org", "vip": True, "trial": 0}]
    [first, _] = await api.ok("profiles/import_batch", {"db_id": database_id, "data": items})
    data = await get(api, first["profile_id"])
    # 1 == True in Python: compare the JSON types too.
    assert [(type(data[name]), data[name]) for name in ("vip", "trial")] == [(bool, True), (int, 0)], "in one batch"
    await api.ok("profiles/import", {"db_id": database_id, "email": "a@example.org", "data": {"vip": 1}})
    data = await get(api, first["profile_id"])
    assert (type(data["vip"]), data["vip"]) == (int, 1), "across requests"


# 2. An item that changes the profile's key.


async def test_key_change_then_old_and_new_key(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    stored = (await api.ok("profiles/add", {"db_id": database_id, "data": {"phones": ["+79001112233"]}}))["profile_id"]
    items = [
        {"phone": "+79001112233", "phones": ["+79004445566"], "city": "Riga"},
        {"phone": "+7 900 111-22-33", "city": "new one"},
        {"phone": "0079004445566", "age": 7},
        # a new profile takes its key as its first phone (design.md), then loses it
        {"phone": "+79007778899", "phones": ["+79000000001"]},
        {"phone": "+79000000001", "phones": ["+79000000002"]},
        {"phone": "+79007778899", "city": "another new one"},
    ]
    results = await api.ok("profiles/import_batch", {"db_id": database_id, "matching": "phone", "data": items})
    ids = [result["profile_id"] for result in results]
    assert [result["error"] for result in results] == [0] * 6
    assert ids[0] == ids[2] == stored and ids[1] != stored and ids[3] == ids[4] and ids[5] not in ids[:5]
    assert len(set(ids)) == 4
    assert (await get(api, ids[5]))["phones"] == ["+79007778899"]
    moved = await get(api, stored)
    assert (moved["phones"], moved["city"], moved["age"]) == (["+79004445566"], "Riga", 7)
    assert (await get(api, ids[1]))["phones"] == ["+7 900 111-22-33"]
    assert (await get(api, ids[3]))["phones"] == ["+79000000002"]
    # Across requests: the stored keys follow.
    assert await found_by_phone(api, database_id, "+79001112233") == ids[1]
    assert await found_by_phone(api, database_id, "+79004445566") == stored
    assert await found_by_phone(api, database_id, "+79007778899") == ids[5]


async def test_email_change_by_import_then_old_and_new_email(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    first = await api.ok("profiles/import", {"db_id": database_id, "email": "old@example.org", "data": {}})
    moved = await api.ok(
        "profiles/import", {"db_id": database_id, "email": "OLD@example.org", "data": {"email": "New@example.org"}}
    )
    assert moved == first
    again = await api.ok("profiles/import_batch", {"db_id": database_id, "data": [{"email": "new@EXAMPLE.org"}]})
    assert again[0]["profile_id"] == first["profile_id"]
    other = await api.ok("profiles/import", {"db_id": database_id, "email": "old@example.org", "data": {}})
    assert other != first
    assert (await api.call("profiles/list", {"db_id": database_id}))["total_count"] == 2


# 3. Phones replaced by an import: profile_phones follow.


async def test_phones_replaced_move_the_phone_keys(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    made = await api.ok(
        "profiles/import", {"db_id": database_id, "email": "a@example.org", "data": {"phones": ["+79001112233"]}}
    )
    profile_id = made["profile_id"]
    assert await found_by_phone(api, database_id, "+7 900 111 22 33") == profile_id
    await api.ok(
        "profiles/import", {"db_id": database_id, "email": "a@example.org", "data": {"phones": ["+7 900 444 55 66"]}}
    )
    assert await found_by_phone(api, database_id, "+79001112233") is None
    assert await found_by_phone(api, database_id, "0079004445566") == profile_id
    # Within one batch, new and stored profiles alike; only the last list counts.
    items = [
        {"email": "a@example.org", "phones": ["+79000000001"]},
        {"email": "a@example.org", "phones": ["+79000000002", "+79000000003"]},
        {"email": "b@example.org", "phones": ["+79000000004"]},
        {"email": "b@example.org", "phones": ["+79000000005"]},
    ]
    results = await api.ok("profiles/import_batch", {"db_id": database_id, "data": items})
    new_id = results[2]["profile_id"]
    expected = {
        "+79004445566": None,
        "+79000000001": None,
        "+79000000002": profile_id,
        "+79000000003": profile_id,
        "+79000000004": None,
        "+79000000005": new_id,
    }
    assert {phone: await found_by_phone(api, database_id, phone) for phone in expected} == expected
    batch = await api.ok(
        "profiles/import_batch",
        {"db_id": database_id, "matching": "phone", "data": [{"phone": "+79000000003"}, {"phone": "+79000000005"}]},
    )
    assert [result["profile_id"] for result in batch] == [profile_id, new_id]


# 4. A deleted subscription imported again.


async def test_deleted_subscription_imported_again_is_revived_and_counted_once(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email"])
    subs = [email_sub(resource_id, "a@example.org"), email_sub(resource_id, "b@example.org", "unconfirmed", 1)]
    made = await api.ok(
        "profiles/add", {"db_id": database_id, "data": {"email": "a@example.org", "subscriptions": subs}}
    )
    profile_id = made["profile_id"]
    ref = {"db_id": database_id, "profile_id": profile_id, "resource_id": resource_id, "channel": "email"}
    await api.ok("subscriptions/delete", ref | {"email": "a@example.org"})
    email = (await counts(api, database_id, resource_id))["email"]
    assert (email["subscribed"], email["unconfirmed"], email["unconfirmed_sendable"]) == (0, 1, 1)
    # The same status and priority as before its deletion: still a change (it was deleted).
    await api.ok(
        "profiles/import_batch",
        {"db_id": database_id, "data": [{"email": "a@example.org", "subscriptions": [subs[0]]}]},
    )
    shown = {
        sub["email"]: (sub["status"], sub["is_effective"]) for sub in (await get(api, profile_id))["subscriptions"]
    }
    assert shown == {"a@example.org": ("subscribed", True), "b@example.org": ("unconfirmed", False)}
    email = (await counts(api, database_id, resource_id))["email"]
    assert (email["all"], email["subscribed"], email["subscribed_sendable"], email["unconfirmed"]) == (1, 1, 1, 0)
    listed = await api.call("subscriptions/list", {"db_id": database_id, "profile_id": profile_id})
    assert listed["total_count"] == 2


# 5. ``_status`` by import recomputes every subscription's sendable flag.


async def test_status_change_by_import_recomputes_every_subscription(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email", "sms"])
    subs = [
        email_sub(resource_id, "a@example.org"),
        email_sub(resource_id, "b@example.org", priority=1),
        sms_sub(resource_id, "+79001112233", "unconfirmed"),
    ]
    await api.ok("profiles/add", {"db_id": database_id, "data": {"email": "a@example.org", "subscriptions": subs}})

    async def sendable() -> tuple[int, int, int, int]:
        by_channel = await counts(api, database_id, resource_id)
        email, sms = by_channel["email"], by_channel["sms"]
        return email["subscribed"], email["subscribed_sendable"], sms["unconfirmed"], sms["unconfirmed_sendable"]

    assert await sendable() == (1, 1, 1, 1)
    await api.ok(
        "profiles/import_batch", {"db_id": database_id, "data": [{"email": "A@example.org", "_status": "suspended"}]}
    )
    assert await sendable() == (1, 0, 1, 0)
    # Blocked then unblocked in one batch, with a new priority: the flags follow the last.
    items = [
        {"email": "a@example.org", "_status": "subscribed"},
        {"email": "a@example.org", "_status": "hardbounced", "subscriptions": [email_sub(resource_id, "b@x.org")]},
        {"email": "a@example.org", "_status": "unconfirmed"},
    ]
    await api.ok("profiles/import_batch", {"db_id": database_id, "data": items})
    assert await sendable() == (1, 1, 1, 1)
    # A null _status is an absent one: still unblocked.
    await api.ok("profiles/import", {"db_id": database_id, "email": "a@example.org", "data": {"_status": None}})
    assert await sendable() == (1, 1, 1, 1)
    # A new profile of the batch blocked by its second item is written blocked.
    items = [
        {"email": "n@example.org", "subscriptions": [email_sub(resource_id, "n@example.org")]},
        {"email": "n@example.org", "_status": "unsubscribed"},
    ]
    await api.ok("profiles/import_batch", {"db_id": database_id, "data": items})
    assert await sendable() == (2, 1, 1, 1)


# 6. insert_rows' encoding (SQLite: the bind processor, remembered per column).


def profile_row(profile_id: int, fields: dict[str, Any], phones: list[str], now: datetime) -> dict[str, Any]:
    return {
        "id": profile_id,
        "account_id": 1,
        "database_id": 1,
        "email": None,
        "email_key": None,
        "phones": phones,
        "fields": fields,
        "global_status": None,
        "is_deleted": False,
        "created_at": now,
        "updated_at": now,
    }


async def test_insert_rows_encodes_each_row_shared_objects_or_not(engine: AsyncEngine) -> None:
    now = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    shared, phones = {"city": "Riga"}, ["+79001112233"]
    rows = [profile_row(1, shared, phones, now), profile_row(2, shared, phones, now)]
    rows += [profile_row(3 + n, {"n": n}, [f"+7900000000{n}"], now.replace(microsecond=n)) for n in range(60)]
    async with engine.begin() as conn:
        await insert_rows(conn, profiles, rows)
    async with engine.connect() as conn:
        stored = {row.id: row for row in await conn.execute(select(profiles).order_by(profiles.c.id))}
    assert len(stored) == 62
    assert stored[1].fields == stored[2].fields == {"city": "Riga"} and stored[2].phones == phones
    assert stored[1].updated_at == now
    for n in range(60):
        row = stored[3 + n]
        assert (row.fields, row.phones, row.updated_at) == ({"n": n}, [f"+7900000000{n}"], now.replace(microsecond=n))


async def test_insert_rows_stores_datetimes_as_the_column_type_does(engine: AsyncEngine) -> None:
    """A moment on a whole second is stored in the same text form as any other (SQLite)."""
    whole = datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    async with engine.begin() as conn:
        await insert_rows(conn, profiles, [profile_row(1, {}, [], whole)])
        await conn.execute(profiles.insert(), [profile_row(2, {}, [], whole)])
    async with engine.connect() as conn:
        texts: dict[int, str] = dict(
            (await conn.execute(text("SELECT id, CAST(updated_at AS TEXT) FROM profiles ORDER BY id"))).all()
        )
    assert texts[1] == texts[2]


# 7. Batches of 10,000 items.


async def test_import_batch_of_10000_items_creates_then_updates(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email", "sms"])
    size = 10_000
    items = [
        {
            "email": f"p{n}@example.org",
            "phones": [f"+7900{n:07d}"],
            "subscriptions": [email_sub(resource_id, f"p{n}@x.org")],
        }
        for n in range(size)
    ]
    created = await api.ok("profiles/import_batch", {"db_id": database_id, "data": items})
    assert [result["error"] for result in created] == [0] * size
    # Every item again, by phone: a global block, a new subscription and a new phone each.
    items = [
        {
            "phone": f"+7 900 {n:07d}",
            "phones": [f"+7901{n:07d}"],
            "_status": "unsubscribed" if n % 2 else "subscribed",
            "subscriptions": [sms_sub(resource_id, f"+7901{n:07d}")],
        }
        for n in range(size)
    ]
    updated = await api.ok("profiles/import_batch", {"db_id": database_id, "matching": "phone", "data": items})
    assert [result["profile_id"] for result in updated] == [result["profile_id"] for result in created]
    by_channel = await counts(api, database_id, resource_id)
    assert (by_channel["email"]["all"], by_channel["email"]["subscribed"]) == (size, size)
    assert (by_channel["email"]["subscribed_sendable"], by_channel["sms"]["subscribed_sendable"]) == (size // 2,) * 2
    assert await found_by_phone(api, database_id, "+79010000042") == created[42]["profile_id"]
    assert await found_by_phone(api, database_id, "+79000000042") is None
