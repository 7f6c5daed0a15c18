"""subscriptions/set and delete, and which subscription is effective after each write."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.helpers import Api
from tests.profiles.cases import BAD_SUBSCRIPTIONS


def sub(resource_id: int, email: str, status: Any = "subscribed", priority: Any = 0) -> dict[str, Any]:
    return {"resource_id": resource_id, "channel": "email", "email": email, "status": status, "priority": priority}


async def new_profile(api: Api, database_id: int, subs: list[dict[str, Any]]) -> str:
    created = await api.ok("profiles/add", {"db_id": database_id, "data": {"subscriptions": subs}})
    return str(created["profile_id"])


async def effective_email(api: Api, profile_id: str) -> str | None:
    """The address of the profile's effective subscription (the only resource, channel email)."""
    data = (await api.ok("profiles/get", {"profile_id": profile_id}))["data"]
    picks = [item["email"] for item in data["subscriptions"] if item["is_effective"]]
    assert len(picks) <= 1
    return picks[0] if picks else None


async def test_profiles_add_later_item_is_more_recent(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    profile_id = await new_profile(api, database_id, [sub(resource_id, "a@x.org"), sub(resource_id, "b@x.org")])
    assert await effective_email(api, profile_id) == "b@x.org"


async def test_profiles_add_lower_priority_number_beats_recency(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    subs = [sub(resource_id, "a@x.org", priority=0), sub(resource_id, "b@x.org", priority=1)]
    assert await effective_email(api, await new_profile(api, database_id, subs)) == "a@x.org"


async def test_profiles_add_same_subscription_repeated_unchanged_is_not_a_change(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    subs = [sub(resource_id, "a@x.org"), sub(resource_id, "b@x.org", "unsubscribed"), sub(resource_id, "a@x.org", 0)]
    profile_id = await new_profile(api, database_id, subs)
    assert await effective_email(api, profile_id) == "b@x.org"
    data = (await api.ok("profiles/get", {"profile_id": profile_id}))["data"]
    assert len(data["subscriptions"]) == 2


async def test_profiles_add_same_subscription_repeated_changed_is_more_recent(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    subs = [sub(resource_id, "a@x.org"), sub(resource_id, "b@x.org"), sub(resource_id, "a@x.org", "hardbounced")]
    profile_id = await new_profile(api, database_id, subs)
    assert await effective_email(api, profile_id) == "a@x.org"
    data = (await api.ok("profiles/get", {"profile_id": profile_id}))["data"]
    assert {item["email"]: item["status"] for item in data["subscriptions"]} == {
        "a@x.org": "hardbounced",
        "b@x.org": "subscribed",
    }


async def test_subscriptions_set_unchanged_values_is_not_a_change(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    profile_id = await new_profile(api, database_id, [sub(resource_id, "a@x.org"), sub(resource_id, "b@x.org")])
    ref = {"db_id": database_id, "profile_id": profile_id}
    await api.ok("subscriptions/set", {**ref, **sub(resource_id, "a@x.org", "0", "0")})
    assert await effective_email(api, profile_id) == "b@x.org"
    await api.ok("subscriptions/set", {**ref, **sub(resource_id, "a@x.org", "unconfirmed")})
    assert await effective_email(api, profile_id) == "a@x.org"


async def test_subscriptions_set_priority_change_is_a_change(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    subs = [sub(resource_id, "a@x.org", priority=1), sub(resource_id, "b@x.org", priority=0)]
    profile_id = await new_profile(api, database_id, subs)
    ref = {"db_id": database_id, "profile_id": profile_id}
    await api.ok("subscriptions/set", {**ref, **sub(resource_id, "a@x.org", priority=0)})
    assert await effective_email(api, profile_id) == "a@x.org"


async def test_subscriptions_delete_effective_falls_back_to_next(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    subs = [sub(resource_id, "a@x.org", priority=2), sub(resource_id, "b@x.org", priority=1)]
    profile_id = await new_profile(api, database_id, subs)
    ref = {"db_id": database_id, "profile_id": profile_id}
    await api.ok("subscriptions/delete", {**ref, "resource_id": resource_id, "channel": "email", "email": "b@x.org"})
    assert await effective_email(api, profile_id) == "a@x.org"
    await api.ok("subscriptions/delete", {**ref, "resource_id": resource_id, "channel": "email", "email": "a@x.org"})
    assert await effective_email(api, profile_id) is None


async def test_subscriptions_set_deleted_subscription_with_same_values_revives_it(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    profile_id = await new_profile(api, database_id, [sub(resource_id, "a@x.org"), sub(resource_id, "b@x.org")])
    ref = {"db_id": database_id, "profile_id": profile_id}
    await api.ok("subscriptions/delete", {**ref, "resource_id": resource_id, "channel": "email", "email": "a@x.org"})
    await api.ok("subscriptions/set", {**ref, **sub(resource_id, "a@x.org")})
    assert await effective_email(api, profile_id) == "a@x.org"


async def test_subscriptions_delete_unknown_subscription_is_not_found(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    profile_id = await new_profile(api, database_id, [])
    body = {"db_id": database_id, "profile_id": profile_id, "resource_id": resource_id, "channel": "email"}
    envelope = await api.call("subscriptions/delete", {**body, "email": "nobody@x.org"})
    assert envelope["error"] == 404


async def test_subscriptions_set_unlinked_resource_is_refused(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    _, other_resource = await api.setup_catalog()
    profile_id = await new_profile(api, database_id, [])
    envelope = await api.call(
        "subscriptions/set", {"db_id": database_id, "profile_id": profile_id, **sub(other_resource, "a@x.org")}
    )
    assert envelope["error"] == 400
    assert (
        envelope["error_text"]
        == f"Invalid parameter: resource {other_resource} is not linked to database {database_id}"
    )


async def test_subscriptions_set_channel_not_of_resource_is_refused(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["sms"])
    profile_id = await new_profile(api, database_id, [])
    envelope = await api.call(
        "subscriptions/set", {"db_id": database_id, "profile_id": profile_id, **sub(resource_id, "a@x.org")}
    )
    assert envelope["error"] == 400
    assert f"resource {resource_id} has no channel 'email'" in envelope["error_text"]


async def test_subscriptions_set_bad_value_is_refused_naming_the_field(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    profile_id = await new_profile(api, database_id, [])
    for change, field in BAD_SUBSCRIPTIONS:
        body = {"db_id": database_id, "profile_id": profile_id, **sub(resource_id, "a@x.org"), **change}
        envelope = await api.call("subscriptions/set", body)
        assert envelope["error"] == 400, (change, envelope)
        assert f"Invalid parameter: {field} " in envelope["error_text"], (change, envelope)
    assert (await api.ok("profiles/get", {"profile_id": profile_id}))["data"]["subscriptions"] == []


async def test_subscriptions_set_profile_elsewhere_is_not_found_alike(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog()
    second_database = (await api.ok("databases/add", {"name": "Second"}))["id"]
    in_second = (await api.ok("profiles/add", {"db_id": second_database, "data": {}}))["profile_id"]
    other = await Api.for_new_account(api.client, engine)
    other_database, _ = await other.setup_catalog()
    foreign = (await other.ok("profiles/add", {"db_id": other_database, "data": {}}))["profile_id"]
    deleted = await new_profile(api, database_id, [])
    await api.ok("profiles/delete", {"profile_id": deleted})
    for profile_id in (in_second, foreign, deleted):
        envelope = await api.call(
            "subscriptions/set", {"db_id": database_id, "profile_id": profile_id, **sub(resource_id, "a@x.org")}
        )
        assert envelope["error"] == 404, envelope
        assert envelope["error_text"] == f"Profile not found: {profile_id}"
