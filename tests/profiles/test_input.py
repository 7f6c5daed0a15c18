"""profiles/input: parsing a profile's data, each problem a 400 that names the field."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tally.errors import BadRequest
from tally.profiles.input import parse_profile, parse_subscription
from tally.profiles.statuses import Status, parse_status
from tests.profiles.cases import BAD_DATA, BAD_SUBSCRIPTIONS

GOOD_SUBSCRIPTION = {"resource_id": 24, "channel": "email", "email": "ann@example.org"}


@pytest.mark.parametrize(("data", "field"), BAD_DATA)
def test_parse_profile_bad_data_names_the_field(data: Any, field: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_profile(data, is_xml=False)
    assert raised.value.text.startswith("Invalid parameter: ")
    assert field in raised.value.text


@pytest.mark.parametrize(("change", "field"), BAD_SUBSCRIPTIONS)
def test_parse_profile_bad_subscription_names_the_field(change: dict[str, Any], field: str) -> None:
    data = {"subscriptions": [GOOD_SUBSCRIPTION, {**GOOD_SUBSCRIPTION, **change}]}
    with pytest.raises(BadRequest) as raised:
        parse_profile(data, is_xml=False)
    assert f"Invalid parameter: data.subscriptions[1].{field} " in raised.value.text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_parse_profile_non_finite_number_is_refused(value: float) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_profile({"score": value}, is_xml=False)
    assert "data.score must be a finite number" in raised.value.text


def test_parse_profile_lone_surrogate_is_refused() -> None:
    with pytest.raises(BadRequest) as raised:
        parse_profile({"city": "a\ud800b"}, is_xml=False)
    assert "data.city" in raised.value.text


def test_parse_profile_profile_email_of_320_characters_is_accepted() -> None:
    email = "a" * 308 + "@example.org"
    assert len(email) == 320
    assert parse_profile({"email": email}, is_xml=False).email == email


def test_parse_profile_good_data_keeps_fields_and_defaults() -> None:
    parsed = parse_profile(
        {"email": "a@b.c", "phones": ["+1234567"], "_status": "3", "_fname": "Ann", "n": 1.5, "ok": True, "x": None,
         "subscriptions": [GOOD_SUBSCRIPTION]},
        is_xml=False,
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
    parsed = parse_subscription({**GOOD_SUBSCRIPTION, "email": None}, is_xml=False, path="")
    assert parsed.address == {}


def test_parse_subscription_address_is_kept_as_given() -> None:
    parsed = parse_subscription({**GOOD_SUBSCRIPTION, "email": " Ann@Example.org "}, is_xml=False, path="")
    assert parsed.address == {"email": " Ann@Example.org "}


def test_parse_subscription_other_channels_fields_are_not_the_address() -> None:
    parsed = parse_subscription({**GOOD_SUBSCRIPTION, "phone": "+1234567"}, is_xml=False, path="")
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
    ],
)
def test_parse_status_word_or_number_is_accepted(value: Any, expected: Status) -> None:
    assert parse_status(value) is expected


@pytest.mark.parametrize("value", ["", "sleeping", 7, -1, "7", "-1", "3.0", 3.0, True, None, ["subscribed"], "٣"])
def test_parse_status_anything_else_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="must be one of subscribed, unsubscribed"):
        parse_status(value)
