"""A cc_data subscription has one identity whatever the wire format (docs/design.md, "cc_data ids")."""

from __future__ import annotations

from typing import Any

import pytest

from tally.catalog.channels import address_key, is_deliverable
from tests.helpers import Api
from tests.profiles.test_xml import post_xml

CC_CHANNELS = ["telegram_bot", "viber", "whatsapp", "notify"]


def key(field: str, value: Any) -> str:
    return address_key({"cc_data": {field: value}})


@pytest.mark.parametrize("field", ["id", "phone"])
def test_a_number_and_its_digits_are_one_key(field: str) -> None:
    assert key(field, 123) == key(field, "123") == key(field, 123.0) == key(field, 1.23e2)
    assert key(field, -1001234567890) == key(field, "-1001234567890")
    assert key(field, 12345678901234567890123) == key(field, "12345678901234567890123")
    assert key(field, 0.5) == key(field, "0.5")


@pytest.mark.parametrize("field", ["id", "phone"])
def test_a_string_is_keyed_as_given(field: str) -> None:
    different = ["123", "0123", " 123", "123 ", "+123", "1.23e2", "123.0"]
    assert len({key(field, value) for value in different}) == len(different)
    assert key(field, "Ab") != key(field, "ab")


def test_a_boolean_is_not_its_word() -> None:
    assert key("id", True) != key("id", "true")
    assert key("id", True) != key("id", 1)


def test_id_and_phone_together_are_each_keyed_by_text() -> None:
    assert address_key({"cc_data": {"id": 7, "phone": 79001234567}}) == address_key(
        {"cc_data": {"phone": "79001234567", "id": "7"}}
    )


def test_other_channels_keep_their_keys() -> None:
    assert address_key({"email": "a@b.c"}) == '{"email":"a@b.c"}'
    assert address_key({"provider": "p", "subscription_id": "s"}) == '{"provider":"p","subscription_id":"s"}'


@pytest.mark.parametrize("field", ["id", "phone"])
@pytest.mark.parametrize(
    ("value", "text"),
    [(0, "0"), (123, "123"), (-5, "-5"), (123.0, "123"), (0.5, "0.5"), (79001234567, "79001234567")],
)
def test_a_number_and_its_text_are_alike_deliverable(field: str, value: float, text: str) -> None:
    """Joining two wire forms never changes whether the subscription can be sent to."""
    number, string = {"cc_data": {field: value}}, {"cc_data": {field: text}}
    assert address_key(number) == address_key(string)
    for channel in CC_CHANNELS:
        assert is_deliverable(channel, number) == is_deliverable(channel, string)


async def _profile(api: Api, channel: str) -> tuple[dict[str, Any], int]:
    database_id, resource_id = await api.setup_catalog([channel])
    created = await api.ok("profiles/add", {"db_id": database_id, "data": {}})
    return {"db_id": database_id, "profile_id": created["profile_id"]}, resource_id


async def _subscriptions(api: Api, profile_id: str) -> list[dict[str, Any]]:
    data = (await api.ok("profiles/get", {"profile_id": profile_id}))["data"]
    subscriptions: list[dict[str, Any]] = data["subscriptions"]
    return subscriptions


def _xml_set(ref: dict[str, Any], resource_id: int, channel: str, cc_data: str, status: str) -> str:
    return (
        f"<db_id>{ref['db_id']}</db_id><profile_id>{ref['profile_id']}</profile_id>"
        f"<resource_id>{resource_id}</resource_id><channel>{channel}</channel>"
        f"<cc_data>{cc_data}</cc_data><status>{status}</status>"
    )


@pytest.mark.parametrize("channel", CC_CHANNELS)
async def test_json_number_then_xml_text_is_one_subscription(api: Api, channel: str) -> None:
    ref, resource_id = await _profile(api, channel)
    await api.ok("subscriptions/set", {**ref, "resource_id": resource_id, "channel": channel, "cc_data": {"id": 123}})
    envelope = await post_xml(api, "subscriptions/set", _xml_set(ref, resource_id, channel, "<id>123</id>", "1"))
    assert envelope["error"] == 0, envelope
    [subscription] = await _subscriptions(api, ref["profile_id"])
    # The address stays as first given; the XML write changed its status.
    assert subscription["cc_data"] == {"id": 123}
    assert (subscription["status"], subscription["is_effective"]) == ("unsubscribed", True)


async def test_xml_text_then_json_number_is_one_subscription_and_delete_finds_it(api: Api) -> None:
    ref, resource_id = await _profile(api, "viber")
    envelope = await post_xml(api, "subscriptions/set", _xml_set(ref, resource_id, "viber", "<id>77</id>", "4"))
    assert envelope["error"] == 0, envelope
    by_json = {**ref, "resource_id": resource_id, "channel": "viber", "cc_data": {"id": 77.0}}
    await api.ok("subscriptions/set", {**by_json, "status": "subscribed"})
    [subscription] = await _subscriptions(api, ref["profile_id"])
    assert (subscription["cc_data"], subscription["status"]) == ({"id": "77"}, "subscribed")
    await api.ok("subscriptions/delete", {**ref, "resource_id": resource_id, "channel": "viber", "cc_data": {"id": 77}})
    assert await _subscriptions(api, ref["profile_id"]) == []


async def test_a_phone_as_number_and_as_text_is_one_subscription(api: Api) -> None:
    ref, resource_id = await _profile(api, "whatsapp")
    base = {**ref, "resource_id": resource_id, "channel": "whatsapp"}
    await api.ok("subscriptions/set", {**base, "cc_data": {"phone": 79001234567}})
    await api.ok("subscriptions/set", {**base, "cc_data": {"phone": "79001234567"}, "status": "unconfirmed"})
    [subscription] = await _subscriptions(api, ref["profile_id"])
    assert (subscription["cc_data"], subscription["status"]) == ({"phone": 79001234567}, "unconfirmed")


async def test_profiles_add_lists_both_forms_as_one_subscription(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["telegram_bot"])
    subs = [
        {"resource_id": resource_id, "channel": "telegram_bot", "cc_data": {"id": 5}},
        {"resource_id": resource_id, "channel": "telegram_bot", "cc_data": {"id": "5"}, "status": "hardbounced"},
        {"resource_id": resource_id, "channel": "telegram_bot", "cc_data": {"id": " 5"}},
    ]
    created = await api.ok("profiles/add", {"db_id": database_id, "data": {"subscriptions": subs}})
    stored = await _subscriptions(api, created["profile_id"])
    # A padded string is another id: strings are identified as given.
    assert {str(item["cc_data"]["id"]): item["status"] for item in stored} == {"5": "hardbounced", " 5": "subscribed"}
