"""The cost of parsing a body is bounded (wire/bounds.py), the same for XML and JSON, and a
token outside the body is checked before the body is parsed.

Units first (the decoders), then over the ASGI app: the limits reach the client as 400s,
a header or query token decides before the parse, and large bodies are parsed in a thread.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from tally.errors import BadRequest
from tally.wire.bounds import MAX_DEPTH, MAX_ITEMS, json_values_over
from tally.wire.codec import BodyKind, body_kind, decode_body
from tally.wire.endpoint import PARSE_IN_THREAD_BYTES
from tests.helpers import Api
from tests.wire.support import assert_error, assert_ok, post_raw, to_xml_body

TOO_MANY_ELEMENTS = f"Malformed XML: more than {MAX_ITEMS} elements"
TOO_MANY_VALUES = f"Malformed JSON: more than {MAX_ITEMS} values"
UNKNOWN_TOKEN = "Invalid token: unknown or revoked"
MISSING_TOKEN = "Missing token: pass it as the token parameter or as 'Authorization: Bearer <token>'"


@pytest.fixture
def backend() -> str:
    return "sqlite"  # the request path up to a token lookup


def _decode(content_type: str, body: bytes) -> dict[str, Any]:
    return decode_body(body_kind(content_type, body), body)


def _refused(content_type: str, body: bytes) -> str:
    with pytest.raises(BadRequest) as raised:
        _decode(content_type, body)
    return raised.value.text


def _json_list(values: int) -> bytes:
    """``{"a": [0, ...]}`` holding exactly ``values`` values (the object and the list count)."""
    return b'{"a": [' + b",".join([b"0"] * (values - 2)) + b"]}"


def _xml_elements(elements: int) -> bytes:
    """A document of exactly ``elements`` elements (the root counts)."""
    return b"<xml>" + b"<a/>" * (elements - 1) + b"</xml>"


# --- item count -----------------------------------------------------------------------------


def test_json_at_the_value_limit_is_accepted() -> None:
    assert len(_decode("application/json", _json_list(MAX_ITEMS))["a"]) == MAX_ITEMS - 2


def test_json_one_value_over_the_limit_is_refused() -> None:
    assert _refused("application/json", _json_list(MAX_ITEMS + 1)) == TOO_MANY_VALUES


def test_xml_at_the_element_limit_is_accepted() -> None:
    assert len(_decode("application/xml", _xml_elements(MAX_ITEMS))["a"]) == MAX_ITEMS - 1


def test_xml_one_element_over_the_limit_is_refused() -> None:
    assert _refused("application/xml", _xml_elements(MAX_ITEMS + 1)) == TOO_MANY_ELEMENTS


def test_json_millions_of_empty_lists_are_refused_before_parsing() -> None:
    body = b'{"a": [' + b"[]," * 3_400_000 + b"[]]}"  # about 10 MiB
    assert _refused("application/json", body) == TOO_MANY_VALUES


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": "' + b"," * (MAX_ITEMS + 10) + b'"}',
        b'{"a": "' + b"[{" * MAX_ITEMS + b'"}',
        b'{"a": ["\\",[{", "' + b"," * (MAX_ITEMS + 10) + b'\\""]}',
    ],
    ids=["commas", "brackets", "escaped-quotes"],
)
def test_json_commas_and_brackets_inside_strings_are_not_values(body: bytes) -> None:
    assert not json_values_over(body)
    assert _decode("application/json", body) == json.loads(body)


@pytest.mark.parametrize(
    ("body", "values"),
    [
        (b"{}", 1),
        (b'{"a": []}', 2),
        (b'{"a": {}, "b": [1, "x,y", {"c": null}]}', 7),
        (b'{"a": [[], [[]], {"k": "[,]"}]}', 7),
    ],
)
def test_json_values_are_counted_exactly(body: bytes, values: int) -> None:
    assert json_values_over(body, limit=values - 1)
    assert not json_values_over(body, limit=values)


# --- depth: the same measure in both formats ------------------------------------------------


def _nested_list_xml(levels: int) -> bytes:
    """Objects ``levels - 1`` deep (the root is the first), then a list of two items."""
    inner = b"<b>1</b><b>2</b>"
    return b"<xml>" + b"<a>" * (levels - 2) + inner + b"</a>" * (levels - 2) + b"</xml>"


def _nested_list_json(levels: int) -> bytes:
    return b'{"a": ' * (levels - 2) + b'{"b": ["1", "2"]}' + b"}" * (levels - 2)


@pytest.mark.parametrize("levels", [MAX_DEPTH, MAX_DEPTH + 1])
def test_a_list_is_a_level_in_xml_as_in_json(levels: int) -> None:
    xml, js = _nested_list_xml(levels), _nested_list_json(levels)
    if levels <= MAX_DEPTH:
        assert _decode("application/xml", xml) == _decode("application/json", js) == json.loads(js)
    else:
        assert _refused("application/xml", xml) == f"Malformed XML: nested deeper than {MAX_DEPTH} levels"
        assert _refused("application/json", js) == f"Malformed JSON: nested deeper than {MAX_DEPTH} levels"


def test_an_empty_list_past_the_depth_is_refused_in_both() -> None:
    xml = b"<xml>" + b"<a>" * (MAX_DEPTH - 1) + b'<b array="true"/>' + b"</a>" * (MAX_DEPTH - 1) + b"</xml>"
    js = b'{"a": ' * (MAX_DEPTH - 1) + b'{"b": []}' + b"}" * (MAX_DEPTH - 1)
    assert _refused("application/xml", xml) == f"Malformed XML: nested deeper than {MAX_DEPTH} levels"
    assert _refused("application/json", js) == f"Malformed JSON: nested deeper than {MAX_DEPTH} levels"


# --- over the app: the limits, and the token before the parse -------------------------------


async def test_many_element_xml_body_without_a_valid_token_is_400_naming_the_limit(api: Api) -> None:
    body = b"<xml><token>tly_unknown</token>" + b"<a/>" * MAX_ITEMS + b"</xml>"
    response = await post_raw(api.client, "databases/list", body, "application/xml")
    assert_error(response, 400, TOO_MANY_ELEMENTS)


async def test_many_item_json_body_without_a_valid_token_is_400_naming_the_limit(api: Api) -> None:
    body = b'{"token": "tly_unknown", "a": [' + b"[]," * MAX_ITEMS + b"[]]}"
    response = await post_raw(api.client, "databases/list", body)
    assert_error(response, 400, TOO_MANY_VALUES)


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bodies the endpoint parsed, in order."""
    bodies: list[bytes] = []

    def recording(kind: BodyKind, body: bytes) -> dict[str, Any]:
        bodies.append(body)
        return decode_body(kind, body)

    monkeypatch.setattr("tally.wire.endpoint.decode_body", recording)
    return bodies


MANY_ELEMENTS = b"<xml>" + b"<a/>" * (MAX_ITEMS * 2) + b"</xml>"
MANY_VALUES = b'{"a": [' + b"[]," * (MAX_ITEMS * 2) + b"[]]}"


@pytest.mark.parametrize(
    ("content_type", "body"), [("application/xml", MANY_ELEMENTS), ("application/json", MANY_VALUES)]
)
async def test_invalid_bearer_is_401_before_the_body_is_parsed(
    api: Api, parsed: list[bytes], content_type: str, body: bytes
) -> None:
    headers = {"Authorization": "Bearer tly_wrong"}
    assert_error(await post_raw(api.client, "databases/list", body, content_type, headers=headers), 401, UNKNOWN_TOKEN)
    assert parsed == []


async def test_invalid_query_token_is_401_before_the_body_is_parsed(api: Api, parsed: list[bytes]) -> None:
    response = await post_raw(api.client, "databases/list", MANY_ELEMENTS, "text/xml", params={"token": "tly_wrong"})
    assert_error(response, 401, UNKNOWN_TOKEN)
    assert parsed == []


async def test_missing_token_is_401_before_the_body_is_parsed(api: Api, parsed: list[bytes]) -> None:
    assert_error(await post_raw(api.client, "databases/list", MANY_VALUES), 401, MISSING_TOKEN)
    assert_error(await post_raw(api.client, "databases/list", b'{"id": 5'), 401, MISSING_TOKEN)
    assert parsed == []


async def test_valid_bearer_then_the_body_is_parsed_once(api: Api, parsed: list[bytes]) -> None:
    body = b'{"format": "xml"}'
    response = await post_raw(api.client, "databases/list", body, headers={"Authorization": f"Bearer {api.token}"})
    assert_ok(response)
    assert parsed == [body]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", '{{"token": "{token}"}}'),
        ("application/json", '{{"\\u0074oken": "{token}"}}'),
        ("application/xml", "<xml><token>{token}</token></xml>"),
    ],
    ids=["json", "json-escaped-key", "xml"],
)
async def test_body_token_still_beats_an_invalid_bearer(api: Api, content_type: str, body: str) -> None:
    headers = {"Authorization": "Bearer tly_wrong"}
    response = await post_raw(api.client, "databases/list", body.format(token=api.token), content_type, headers=headers)
    assert_ok(response)


async def test_invalid_body_token_is_401_despite_a_valid_bearer_and_a_bearer_401_uses_accept(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    response = await post_raw(api.client, "databases/list", b'{"token": "tly_wrong"}', headers=headers)
    assert_error(response, 401, UNKNOWN_TOKEN)
    # Decided before the parse, a 401 cannot know the body's format: query or Accept only.
    headers = {"Authorization": "Bearer tly_wrong", "Accept": "application/xml"}
    response = await post_raw(api.client, "databases/list", b'{"format": "json"}', headers=headers)
    assert response.headers["content-type"].startswith("application/xml")
    assert_error(response, 401, UNKNOWN_TOKEN)


# --- over the app: large bodies are parsed off the event loop -------------------------------


async def test_large_body_is_parsed_in_a_thread_while_others_are_served(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_answered = threading.Event()
    parse_threads: list[threading.Thread] = []

    def held(kind: BodyKind, body: bytes) -> dict[str, Any]:
        if len(body) > PARSE_IN_THREAD_BYTES:
            parse_threads.append(threading.current_thread())
            # Held until a small request is answered: on the event loop this could never end.
            assert small_answered.wait(timeout=20), "the event loop was blocked by the parse"
        return decode_body(kind, body)

    monkeypatch.setattr("tally.wire.endpoint.decode_body", held)
    large = to_xml_body({"token": api.token, "pad": ["x"] * 20_000}).encode()
    assert len(large) > PARSE_IN_THREAD_BYTES
    large_reply = asyncio.create_task(post_raw(api.client, "databases/list", large, "application/xml"))
    small_reply = await api.raw("databases/list")
    small_answered.set()
    assert_ok(small_reply)
    assert_ok(await large_reply)
    assert len(parse_threads) == 1
    assert parse_threads[0] is not threading.main_thread()


async def test_small_body_is_parsed_on_the_event_loop(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    parse_threads: list[threading.Thread] = []

    def recording(kind: BodyKind, body: bytes) -> dict[str, Any]:
        parse_threads.append(threading.current_thread())
        return decode_body(kind, body)

    monkeypatch.setattr("tally.wire.endpoint.decode_body", recording)
    assert_ok(await api.raw("databases/list"))
    assert parse_threads == [threading.main_thread()]
