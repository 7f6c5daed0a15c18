"""Bad profile input and the field its 400 must name, shared by the unit and API tests."""

from __future__ import annotations

from typing import Any

#: A profile's ``data`` and the text its error must contain.
BAD_DATA: list[tuple[Any, str]] = [
    ("just text", "data"),
    (["a", "list"], "data"),
    (42, "data"),
    ({"_status": "sleeping"}, "data._status"),
    ({"_status": 7}, "data._status"),
    ({"email": 5}, "data.email"),
    ({"email": ["a@b.c"]}, "data.email"),
    ({"phones": "+79001234567"}, "data.phones"),
    ({"phones": [79001234567]}, "data.phones[0]"),
    ({"1abc": "x"}, "1abc"),
    ({"a b": "x"}, "a b"),
    ({"": "x"}, "data field name"),
    ({"city": "Ri\x01ga"}, "data.city"),
    ({"city": "Ri\x0bga"}, "data.city"),
    ({"city": {"nested": 1}}, "data.city"),
    ({"email": "a\x00@b.c"}, "data.email"),
    ({"subscriptions": {"resource_id": 1}}, "data.subscriptions"),
    ({"subscriptions": ["x"]}, "data.subscriptions[0]"),
    ({"email": "a" * 310 + "@example.org"}, "data.email"),
    ({"city": "x" * 10_001}, "data.city"),
    ({"_fname": ["Ann"]}, "data._fname"),
]

#: Changes to a good email subscription, and the subscription field its error must name.
BAD_SUBSCRIPTIONS: list[tuple[dict[str, Any], str]] = [
    ({"status": "sleeping"}, "status"),
    ({"status": 7}, "status"),
    ({"status": -1}, "status"),
    ({"status": True}, "status"),
    ({"priority": -1}, "priority"),
    ({"priority": "-1"}, "priority"),
    ({"priority": 2**31}, "priority"),
    ({"priority": 10**30}, "priority"),
    ({"priority": "abc"}, "priority"),
    ({"priority": 1.5}, "priority"),
    ({"priority": True}, "priority"),
    ({"email": 5}, "email"),
    ({"email": "a\x1f@b.c"}, "email"),
    ({"resource_id": "abc"}, "resource_id"),
    ({"resource_id": 0}, "resource_id"),
    ({"channel": "fax"}, "channel"),
    ({"channel": ["email"]}, "channel"),
    ({"channel": {"name": "email"}}, "channel"),
    ({"channel": 0}, "channel"),
]
