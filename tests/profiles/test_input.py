"""profiles/input: validating a profile's data, each problem a 400 that names the field."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from tally.errors import BadRequest
from tally.profiles.input import PROFILE_DATA, ProfileInput, SubscriptionData, SubscriptionInput
from tally.profiles.statuses import Status, parse_status
from tally.wire.params import bad_request
from tests.profiles.cases import BAD_DATA, BAD_SUBSCRIPTIONS

GOOD_SUBSCRIPTION = {"resource_id": 24, "channel": "email", "email": "ann@example.org"}
SUBSCRIPTION = TypeAdapter(SubscriptionData)


def parse_profile(data: Any, *, is_xml: bool = False) -> ProfileInput:
    """The data as profiles/add validates it (in the context wire/params.validate_params sets)."""
    try:
        return PROFILE_DATA.validate_python(data, context={"xml": is_xml}).to_input()
    except ValidationError as exc:
        raise bad_request(exc, ("data",)) from None


def parse_subscription(data: Any) -> SubscriptionInput:
    try:
        return SUBSCRIPTION.validate_python(data, context={"xml": False}).to_input()
    except ValidationError as exc:
        raise bad_request(exc) from None


@pytest.mark.parametrize(("data", "field"), BAD_DATA)
def test_parse_profile_bad_data_names_the_field(data: Any, field: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_profile(data)
    assert raised.value.text.startswith("Invalid parameter: ")
    assert field in raised.value.text


@pytest.mark.parametrize(("change", "field"), BAD_SUBSCRIPTIONS)
def test_parse_profile_bad_subscription_names_the_field(change: dict[str, Any], field: str) -> None:
    data = {"subscriptions": [GOOD_SUBSCRIPTION, {**GOOD_SUBSCRIPTION, **change}]}
    with pytest.raises(BadRequest) as raised:
        parse_profile(data)
    assert f"Invalid parameter: data.subscriptions[1].{field} " in raised.value.text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_parse_profile_non_finite_number_is_refused(value: float) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_profile({"score": value})
    assert "data.score must be a finite number" in raised.value.text


def test_parse_profile_lone_surrogate_is_refused() -> None:
    with pytest.raises(BadRequest) as raised:
        parse_profile({"city": "a\ud800b"})
    assert "data.city" in raised.value.text


def test_parse_profile_profile_email_of_320_characters_is_accepted() -> None:
    email = "a" * 308 + "@example.org"
    assert len(email) == 320
    assert parse_profile({"email": email}).email == email


def test_parse_profile_good_data_keeps_fields_and_defaults() -> None:
    parsed = parse_profile(
        {"email": "a@b.c", "phones": ["+1234567"], "_status": "3", "_fname": "Ann", "n": 1.5, "ok": True, "x": None,
         "subscriptions": [GOOD_SUBSCRIPTION]},
    )  # fmt: skip
    assert parsed.global_status is Status.HARDBOUNCED
    assert parsed.fields == {"_fname": "Ann", "n": 1.5, "ok": True, "x": None}
    [subscription] = parsed.subscriptions
    assert (subscription.status, subscription.priority) == (Status.SUBSCRIBED, 0)
    assert subscription.address == {"email": "ann@example.org"}


def test_parse_profile_xml_empty_data_is_an_empty_profile() -> None:
    parsed = parse_profile("", is_xml=True)
    assert (parsed.email, parsed.phones, parsed.subscriptions) == (None, [], [])


def test_parse_profile_xml_single_items_are_lists() -> None:
    parsed = parse_profile({"phones": "+1234567", "subscriptions": GOOD_SUBSCRIPTION}, is_xml=True)
    assert parsed.phones == ["+1234567"]
    assert len(parsed.subscriptions) == 1


def test_parse_subscription_null_address_field_is_left_out() -> None:
    parsed = parse_subscription({**GOOD_SUBSCRIPTION, "email": None})
    assert parsed.address == {}


def test_parse_subscription_address_is_kept_as_given() -> None:
    parsed = parse_subscription({**GOOD_SUBSCRIPTION, "email": " Ann@Example.org "})
    assert parsed.address == {"email": " Ann@Example.org "}


def test_parse_subscription_other_channels_fields_are_not_the_address() -> None:
    parsed = parse_subscription({**GOOD_SUBSCRIPTION, "phone": "+1234567"})
    assert parsed.address == {"email": "ann@example.org"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("subscribed", Status.SUBSCRIBED),
        ("UNSUBSCRIBED", Status.UNSUBSCRIBED),
        (" complained ", Status.COMPLAINED),
        (3, Status.HARDBOUNCED),
        ("4", Status.UNCONFIRMED),
        ("5", Status.SUSPENDED),
        (6, Status.INVALID),
        (0, Status.SUBSCRIBED),
        (3.0, Status.HARDBOUNCED),
        (" 3 ", Status.HARDBOUNCED),
    ],
)
def test_parse_status_word_or_number_is_accepted(value: Any, expected: Status) -> None:
    assert parse_status(value) is expected


@pytest.mark.parametrize("value", ["", "sleeping", 7, -1, "7", "-1", "3.0", 3.5, True, None, ["subscribed"], "٣"])
def test_parse_status_anything_else_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="must be one of subscribed, unsubscribed"):
        parse_status(value)


@pytest.mark.parametrize("value", [5, "5", " 5 ", 5.0])
def test_parse_profile_integral_numbers_are_integers_in_subscriptions(value: Any) -> None:
    """The integer rule of the top level (docs/design.md "Requests") holds inside data too."""
    [subscription] = parse_profile({"subscriptions": [{**GOOD_SUBSCRIPTION, "resource_id": value,
                                                        "priority": value}]}).subscriptions  # fmt: skip
    assert (subscription.resource_id, subscription.priority) == (5, 5)


@pytest.mark.parametrize("value", ["5.0", 5.5, True, "5a"])
def test_parse_profile_fractions_and_other_strings_are_refused_in_subscriptions(value: Any) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_profile({"subscriptions": [{**GOOD_SUBSCRIPTION, "resource_id": value}]})
    assert raised.value.text.startswith("Invalid parameter: data.subscriptions[0].resource_id must be a positive")


def test_parse_profile_json_single_items_are_not_lists() -> None:
    with pytest.raises(BadRequest) as raised:
        parse_profile({"subscriptions": GOOD_SUBSCRIPTION})
    assert raised.value.text.startswith("Invalid parameter: data.subscriptions: Input should be a valid list")


def test_parse_profile_custom_field_text_of_10000_characters_is_accepted() -> None:
    assert parse_profile({"city": "x" * 10_000}).fields == {"city": "x" * 10_000}


def test_parse_profile_blank_status_and_priority_take_the_defaults() -> None:
    parsed = parse_profile({"_status": "", "subscriptions": [{**GOOD_SUBSCRIPTION, "status": "", "priority": None}]})
    assert parsed.global_status is None
    [subscription] = parsed.subscriptions
    assert (subscription.status, subscription.priority) == (Status.SUBSCRIBED, 0)


def test_parse_subscription_cc_data_keeps_id_and_phone_only() -> None:
    sub = {"resource_id": 1, "channel": "viber", "cc_data": {"id": 7, "phone": None, "name": "x"}}
    assert parse_subscription(sub).address == {"cc_data": {"id": 7}}
