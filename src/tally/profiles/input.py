"""Parsing a profile's ``data`` object (api.md section 4) into typed input.

Errors name the exact field (``data.subscriptions[1].status``) and the value. A batch
parses each item on its own, so that one bad item fails alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tally.catalog.channels import ADDRESS_FIELDS, CC_DATA_CHANNELS, CHANNEL_CODES
from tally.errors import BadRequest, invalid_parameter
from tally.profiles.statuses import Status, parse_status
from tally.wire.params import MAX_INT
from tally.wire.xml import XML_FORBIDDEN

FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
MAX_TEXT = 10_000
#: The profile's own ``email`` field (the column is ``String(320)``, RFC 5321's limit).
MAX_PROFILE_EMAIL = 320
RESERVED = frozenset({"email", "phones", "_status", "subscriptions"})


@dataclass(frozen=True)
class SubscriptionInput:
    resource_id: int
    channel: str
    address: dict[str, Any]
    status: Status = Status.SUBSCRIBED
    priority: int = 0


@dataclass(frozen=True)
class ProfileInput:
    email: str | None
    phones: list[str]
    global_status: Status | None
    fields: dict[str, Any]
    subscriptions: list[SubscriptionInput] = field(default_factory=list)


def parse_profile(raw: object, *, is_xml: bool, path: str = "data") -> ProfileInput:
    if is_xml and raw == "":
        raw = {}
    if not isinstance(raw, Mapping):
        raise invalid_parameter(path, "must be an object of profile fields", raw)
    email = raw.get("email")
    if email is not None:
        email = _text(email, f"{path}.email", limit=MAX_PROFILE_EMAIL)
    phones = [
        _text(phone, f"{path}.phones[{i}]")
        for i, phone in enumerate(_list(raw.get("phones", []), is_xml, f"{path}.phones"))
    ]
    global_status = None
    if raw.get("_status") not in (None, ""):
        global_status = _status(raw["_status"], f"{path}._status")
    fields: dict[str, Any] = {}
    for name, value in raw.items():
        if name in RESERVED:
            continue
        if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
            raise invalid_parameter(f"{path} field name", "must match [A-Za-z_][A-Za-z0-9_.-]*", name)
        fields[name] = _scalar(value, f"{path}.{name}")
    subscriptions = [
        parse_subscription(item, is_xml=is_xml, path=f"{path}.subscriptions[{i}]")
        for i, item in enumerate(_list(raw.get("subscriptions", []), is_xml, f"{path}.subscriptions"))
    ]
    return ProfileInput(email, phones, global_status, fields, subscriptions)


def parse_subscription(raw: object, *, is_xml: bool, path: str) -> SubscriptionInput:
    if not isinstance(raw, Mapping):
        raise invalid_parameter(path or "body", "must be an object", raw)
    prefix = f"{path}." if path else ""
    if "resource_id" not in raw:
        raise BadRequest(f"Missing parameter: {prefix}resource_id")
    resource_id = positive_int(raw["resource_id"], f"{prefix}resource_id")
    channel = raw.get("channel")
    if channel is None:
        raise BadRequest(f"Missing parameter: {prefix}channel")
    if not isinstance(channel, str) or channel not in CHANNEL_CODES:
        raise invalid_parameter(f"{prefix}channel", f"must be one of {', '.join(CHANNEL_CODES)}", channel)
    address: dict[str, Any] = {}
    for name in ADDRESS_FIELDS[channel]:
        if name not in raw or raw[name] is None:
            continue
        if channel in CC_DATA_CHANNELS:
            address[name] = _cc_data(raw[name], f"{prefix}{name}")
        else:
            address[name] = _text(raw[name], f"{prefix}{name}")
    status = Status.SUBSCRIBED
    if raw.get("status") not in (None, ""):
        status = _status(raw["status"], f"{prefix}status")
    priority = 0
    if raw.get("priority") not in (None, ""):
        priority = non_negative_int(raw["priority"], f"{prefix}priority", upper=2**31 - 1)
    return SubscriptionInput(resource_id, channel, address, status, priority)


def positive_int(value: object, name: str) -> int:
    number = _int(value)
    if number is None or not 0 < number <= MAX_INT:
        raise invalid_parameter(name, "must be a positive integer", value)
    return number


def non_negative_int(value: object, name: str, upper: int = MAX_INT) -> int:
    number = _int(value)
    if number is None or not 0 <= number <= upper:
        raise invalid_parameter(name, f"must be an integer from 0 to {upper}", value)
    return number


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 19:
        return int(value.strip())
    return None


def _status(value: object, name: str) -> Status:
    try:
        return parse_status(value)
    except ValueError as exc:
        raise invalid_parameter(name, str(exc), value) from None


def _list(value: object, is_xml: bool, name: str) -> list[Any]:
    if isinstance(value, list):
        return value
    if is_xml:
        return [] if value == "" else [value]
    raise invalid_parameter(name, "must be a list", value)


def _text(value: object, name: str, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise invalid_parameter(name, "must be a string", value)
    if len(value) > limit:
        raise invalid_parameter(name, f"must be at most {limit} characters", value)
    if XML_FORBIDDEN.search(value):
        raise invalid_parameter(name, "must not contain control characters or lone surrogates", value)
    return value


def _scalar(value: object, name: str) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        # Python's JSON decoder takes NaN and Infinity; JSON columns and responses cannot.
        raise invalid_parameter(name, "must be a finite number", value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _text(value, name)
    raise invalid_parameter(name, "must be a string, a number, a boolean or null", value)


def _cc_data(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid_parameter(name, "must be an object with id or phone", value)
    result: dict[str, Any] = {}
    for key in ("id", "phone"):
        if value.get(key) is not None:
            result[key] = _scalar(value[key], f"{name}.{key}")
    return result
