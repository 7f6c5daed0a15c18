"""Channels, their address fields, and when an address is deliverable (counting.md).

A channel is stored as a small code so that the count index stays small; the code never
leaves the database.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import PlainValidator, WithJsonSchema

from tally.wire.params import invalid

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


def _channel(value: object) -> str:
    if not isinstance(value, str) or value not in CHANNEL_CODES:
        raise invalid(f"must be one of {', '.join(CHANNEL_CODES)}")
    return value


#: A channel field of a request: one of the names above, exactly.
ChannelName = Annotated[str, PlainValidator(_channel), WithJsonSchema({"enum": list(CHANNEL_CODES)})]

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
    # An id is a non-empty string or a number; a boolean is not an id.
    has_id = isinstance(cc_id, str | int | float) and not isinstance(cc_id, bool) and cc_id != ""
    return has_id or is_phone(cc_data.get("phone"))


#: The cc_data fields keyed by their text (``_cc_data_text``).
CC_DATA_FIELDS = ("id", "phone")


def _cc_data_text(value: object) -> object:
    """A cc_data value as the text XML would carry for it (docs/design.md, "cc_data ids").

    An integral number is its decimal digits (``123``, ``123.0``: ``"123"``), another number
    the text JSON writes (``0.5``: ``"0.5"``). A string stays exactly as given: ids are opaque
    (a Viber id is case-sensitive), and XML already trims element text, so trimming would
    join no two wire forms. A boolean stays one: it is no id (is_deliverable) while
    ``"true"`` is, and one subscription must not change deliverability with its first write.
    A number and its text always agree on it: both are ids, neither is a phone.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: Longest canonical text kept as the key itself, in UTF-8 bytes. The key sits in a unique
#: B-tree index (``address_key`` is ``String(1000)``, and PostgreSQL refuses index entries
#: above about 2.7 kB), so a longer address is identified by a digest of its text instead.
MAX_PLAIN_KEY_BYTES = 500


def address_key(address: Mapping[str, Any]) -> str:
    """A canonical text that identifies an address within its channel.

    The sorted JSON of the address with a cc_data ``id`` and ``phone`` as text: XML cannot
    say whether ``<id>123</id>`` is a number, so JSON ``123`` and XML's ``"123"`` must be one
    subscription (the address itself is stored as given). For a long address (stored as
    given, up to 10,000 characters per field), ``sha256:`` and the hex digest of that JSON.
    A JSON text starts with ``{``, so the two forms never collide. Migration 0008 recomputed
    the stored keys with a copy of these rules: changing them needs a migration too.
    """
    cc_data = address.get("cc_data")
    if isinstance(cc_data, Mapping):
        canonical = {name: _cc_data_text(value) if name in CC_DATA_FIELDS else value for name, value in cc_data.items()}
        address = {**address, "cc_data": canonical}
    text = json.dumps(address, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    encoded = text.encode("utf-8", "surrogatepass")
    if len(encoded) <= MAX_PLAIN_KEY_BYTES:
        return text
    return "sha256:" + hashlib.sha256(encoded).hexdigest()
