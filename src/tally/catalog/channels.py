"""Channels, their address fields, and when an address is deliverable (counting.md).

A channel is stored as a small code so that the count index stays small; the code never
leaves the database.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

CHANNEL_CODES: dict[str, int] = {
    "email": 0,
    "sms": 1,
    "push": 2,
    "telegram_bot": 3,
    "viber": 4,
    "whatsapp": 5,
    "notify": 6,
}
CHANNEL_NAMES: dict[int, str] = {code: name for name, code in CHANNEL_CODES.items()}
CC_DATA_CHANNELS = frozenset({"telegram_bot", "viber", "whatsapp", "notify"})

#: The fields of a subscription that make up its address, per channel.
ADDRESS_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "sms": ("phone",),
    "push": ("provider", "subscription_id"),
    **{name: ("cc_data",) for name in CC_DATA_CHANNELS},
}

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+[0-9]{7,15}")


def is_phone(value: object) -> bool:
    return isinstance(value, str) and _PHONE.fullmatch(value) is not None


def is_deliverable(channel: str, address: Mapping[str, Any]) -> bool:
    """Whether an address is present and well-formed, judged on the whole stored string."""
    if channel == "email":
        email = address.get("email")
        return isinstance(email, str) and _EMAIL.fullmatch(email) is not None
    if channel == "sms":
        return is_phone(address.get("phone"))
    if channel == "push":
        provider, subscription_id = address.get("provider"), address.get("subscription_id")
        return bool(isinstance(provider, str) and provider and isinstance(subscription_id, str) and subscription_id)
    cc_data = address.get("cc_data")
    if not isinstance(cc_data, Mapping):
        return False
    cc_id = cc_data.get("id")
    return bool(cc_id not in (None, "") and not isinstance(cc_id, Mapping | list)) or is_phone(cc_data.get("phone"))


def address_key(address: Mapping[str, Any]) -> str:
    """A canonical text that identifies an address within its channel."""
    return json.dumps(address, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
