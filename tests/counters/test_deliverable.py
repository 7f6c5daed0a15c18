"""catalog/channels.is_deliverable: each rule of counting.md, judged on the whole stored string."""

from __future__ import annotations

from typing import Any

import pytest

from tally.catalog.channels import address_key, is_deliverable

EMAILS_OK = ["ann@example.org", "a@b.c", "first.last+tag@sub.example.co.uk", "ä@ü.de", "a.b@c.d.e"]
EMAILS_BAD = [
    "",
    "ann",
    "ann@example",
    "@example.org",
    "ann@.",
    "ann@@example.org",
    "ann@exa@mple.org",
    "ann @example.org",
    " ann@example.org",
    "ann@example.org ",
    "ann@example.org\n",
    "ann@example.org\t",
    "ann@example.",
]
PHONES_OK = ["+1234567", "+79001234567", "+123456789012345"]
PHONES_BAD = [
    "",
    "+123456",
    "+1234567890123456",
    "79001234567",
    "+7 900 123 45 67",
    "+7-900-123-45-67",
    "+79001234567\n",
    "++79001234567",
    "+７９００１２３４５６７",
    "+٧٩٠٠١٢٣٤٥٦٧",
]


@pytest.mark.parametrize("email", EMAILS_OK)
def test_is_deliverable_email_well_formed_is_true(email: str) -> None:
    assert is_deliverable("email", {"email": email})


@pytest.mark.parametrize("email", EMAILS_BAD)
def test_is_deliverable_email_malformed_is_false(email: str) -> None:
    assert not is_deliverable("email", {"email": email})


def test_is_deliverable_email_missing_is_false() -> None:
    assert not is_deliverable("email", {})


@pytest.mark.parametrize("phone", PHONES_OK)
def test_is_deliverable_sms_well_formed_is_true(phone: str) -> None:
    assert is_deliverable("sms", {"phone": phone})


@pytest.mark.parametrize("phone", PHONES_BAD)
def test_is_deliverable_sms_malformed_is_false(phone: str) -> None:
    assert not is_deliverable("sms", {"phone": phone})


def test_is_deliverable_sms_missing_is_false() -> None:
    assert not is_deliverable("sms", {})


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ({"provider": "android-firebase", "subscription_id": "fcm:abc"}, True),
        ({"provider": "x", "subscription_id": "y"}, True),
        ({"provider": "", "subscription_id": "fcm:abc"}, False),
        ({"provider": "android-firebase", "subscription_id": ""}, False),
        ({"provider": "android-firebase"}, False),
        ({"subscription_id": "fcm:abc"}, False),
        ({}, False),
    ],
)
def test_is_deliverable_push_needs_provider_and_subscription_id(address: dict[str, Any], expected: bool) -> None:
    assert is_deliverable("push", address) is expected


@pytest.mark.parametrize("channel", ["telegram_bot", "viber", "whatsapp", "notify"])
@pytest.mark.parametrize(
    ("cc_data", "expected"),
    [
        ({"id": "123456"}, True),
        ({"id": 123456}, True),
        ({"phone": "+79001234567"}, True),
        ({"id": "", "phone": "+79001234567"}, True),
        ({"id": "123", "phone": "bad"}, True),
        ({"id": 0}, True),
        ({"id": ""}, False),
        ({"id": True}, False),
        ({"id": False}, False),
        ({"id": None, "phone": None}, False),
        ({"phone": "79001234567"}, False),
        ({"phone": "+79001234567\n"}, False),
        ({"id": "", "phone": ""}, False),
        ({}, False),
        (None, False),
        ("123", False),
    ],
)
def test_is_deliverable_cc_data_needs_id_or_phone(channel: str, cc_data: Any, expected: bool) -> None:
    address = {} if cc_data is None else {"cc_data": cc_data}
    assert is_deliverable(channel, address) is expected


def test_address_key_same_address_any_key_order_is_equal() -> None:
    first = {"provider": "p", "subscription_id": "s"}
    second = {"subscription_id": "s", "provider": "p"}
    assert address_key(first) == address_key(second)


def test_address_key_different_addresses_differ() -> None:
    assert address_key({"email": "a@b.c"}) != address_key({"email": "a@b.cd"})


def test_address_key_short_address_is_its_sorted_json() -> None:
    assert address_key({"email": "a@b.c"}) == '{"email":"a@b.c"}'


def test_address_key_long_address_is_a_fixed_size_digest() -> None:
    key = address_key({"email": "é" * 3000 + "@example.org"})
    assert key.startswith("sha256:")
    assert len(key) == len("sha256:") + 64


def test_address_key_long_addresses_that_differ_have_different_keys() -> None:
    first = address_key({"email": "a" * 2000 + "@example.org"})
    second = address_key({"email": "a" * 2000 + "@example.com"})
    assert first != second
