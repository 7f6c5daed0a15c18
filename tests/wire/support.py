"""Helpers for wire tests: raw requests, and envelopes read back from JSON or XML."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tally.wire.xml import parse_xml

API = "/api/v1.1"
UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
XML_PROLOG = '<?xml version="1.0" encoding="UTF-8"?>'


async def post_raw(
    client: httpx.AsyncClient,
    method: str,
    content: bytes | str = b"",
    content_type: str | None = "application/json",
    **kwargs: Any,
) -> httpx.Response:
    """POST exactly these bytes, with this Content-Type (None: no Content-Type at all)."""
    headers = dict(kwargs.pop("headers", {}))
    if content_type is not None:
        headers["Content-Type"] = content_type
    return await client.post(f"{API}/{method}", content=content, headers=headers, **kwargs)


async def post_json(client: httpx.AsyncClient, method: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return await post_raw(client, method, json.dumps(body), **kwargs)


def to_xml_body(body: dict[str, Any], root: str = "xml") -> str:
    """A request body in XML: lists as repeated elements (one item gets array="true")."""
    parts = [f"<{root}>"]
    for key, value in body.items():
        parts.append(_element(key, value))
    parts.append(f"</{root}>")
    return "".join(parts)


def _element(key: str, value: Any) -> str:
    if isinstance(value, list):
        if len(value) == 1:
            return f'<{key} array="true">{_inner(value[0])}</{key}>'
        return "".join(_element(key, item) for item in value) or f'<{key} array="true"/>'
    return f"<{key}>{_inner(value)}</{key}>"


def _inner(value: Any) -> str:
    if isinstance(value, dict):
        return "".join(_element(key, item) for key, item in value.items())
    return str(value)


async def post_xml(client: httpx.AsyncClient, method: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return await post_raw(client, method, to_xml_body(body), "application/xml", **kwargs)


MEMBERS = ["data", "error", "error_text"]
#: A list method's envelope (wire/listing.py): the paging keys follow error_text.
LISTING_MEMBERS = [*MEMBERS, "next_from_id", "total_count"]


def envelope(response: httpx.Response) -> dict[str, Any]:
    """The decoded envelope, checking the parts every response shares.

    The HTTP status equals ``error`` (200 for 0), the members are data/error/error_text
    (``data`` absent in JSON errors, an empty element in XML errors; a list method's
    success adds next_from_id and total_count), and ``error`` comes back as an int
    whatever the format.
    """
    content_type = response.headers["content-type"]
    if content_type.startswith("application/xml"):
        assert response.text.startswith(XML_PROLOG + "\n<xml>\n"), response.text
        decoded = parse_xml(response.content)
        decoded["error"] = int(decoded["error"])
        if decoded["error"]:
            assert list(decoded) == MEMBERS, decoded
            assert decoded["data"] == "", decoded
        else:
            assert list(decoded) in (MEMBERS, LISTING_MEMBERS), decoded
    else:
        assert content_type == "application/json", content_type
        decoded = response.json()
        if decoded.get("error") == 0:
            assert list(decoded) in (MEMBERS, LISTING_MEMBERS), decoded
        else:
            assert list(decoded) == ["error", "error_text"], decoded
    assert response.status_code == (decoded["error"] or 200), (response.status_code, decoded)
    assert isinstance(decoded["error_text"], str) and decoded["error_text"], decoded
    return decoded


def is_xml(response: httpx.Response) -> bool:
    return response.headers["content-type"] == "application/xml; charset=utf-8"


def assert_error(response: httpx.Response, code: int, text: str) -> dict[str, Any]:
    """The response is the error envelope ``code`` with exactly ``text``."""
    decoded = envelope(response)
    assert (decoded["error"], decoded["error_text"]) == (code, text), decoded
    return decoded


def assert_ok(response: httpx.Response) -> Any:
    decoded = envelope(response)
    assert (decoded["error"], decoded["error_text"]) == (0, "Successful operation"), decoded
    return decoded["data"]


def assert_listing(response: httpx.Response) -> tuple[list[Any], int, int]:
    """A list method's success: (items, next_from_id, total_count), typed in both formats.

    In XML the items are the repeated ``<data>`` elements: one item reads back as an
    object and an empty page as one empty element, so the list schema makes them lists.
    """
    decoded = envelope(response)
    assert list(decoded) == LISTING_MEMBERS, decoded
    assert (decoded["error"], decoded["error_text"]) == (0, "Successful operation"), decoded
    items = decoded["data"]
    if is_xml(response):
        items = [] if items == "" else items if isinstance(items, list) else [items]
    else:
        assert all(type(decoded[key]) is int for key in LISTING_MEMBERS[3:]), decoded
    assert isinstance(items, list), decoded
    return items, int(decoded["next_from_id"]), int(decoded["total_count"])


COUNTERS = ["all", "complained", "hardbounced", "invalid", "subscribed", "subscribed_sendable", "suspended"]
COUNTERS += ["unconfirmed", "unconfirmed_sendable", "unsubscribed"]

# Which fields of a tasks/status envelope are lists, integers, booleans or nullable.
STATUS_LISTS = {"result", "channels", "feedback"}
STATUS_INTS = {"error", "progress", "resource_id", "total_count", "attempts", *COUNTERS}
STATUS_BOOLS = {"in_progress"}


def from_xml_status(value: Any, key: str | None = None) -> Any:
    """The XML of a tasks/status envelope, typed with that method's response schema."""
    if key in STATUS_LISTS and not isinstance(value, list):
        value = [] if value == "" else [value]
    if isinstance(value, list):
        return [from_xml_status(item) for item in value]
    if isinstance(value, dict):
        converted = {name: from_xml_status(item, name) for name, item in value.items()}
        if value.get("result") == "" and value.get("status") != "completed":
            converted["result"] = None  # null before completion
        return converted
    if key in STATUS_INTS:
        return int(value)
    if key in STATUS_BOOLS:
        assert value in {"true", "false"}, value
        return value == "true"
    return value
