"""wire/codec.py and errors.short_repr as units: content types, hostile bodies, formats."""

from __future__ import annotations

import json

import pytest

from tally.errors import BadRequest, UnsupportedMediaType, short_repr
from tally.wire.bounds import MAX_DEPTH
from tally.wire.codec import BodyKind, Format, accept_format, body_kind, decode_body, fallback_format, parse_format
from tally.wire.xml import parse_xml

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<xml><token>&lol4;</token></xml>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<xml><token>&xxe;</token></xml>"""
EXTERNAL_DTD = b'<?xml version="1.0"?><!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd"><xml><id>5</id></xml>'
PLAIN_DOCTYPE = b"<!DOCTYPE xml><xml><id>5</id></xml>"
DEEP_XML = b"<a>" * 10_000 + b"</a>" * 10_000
DEEP_JSON = b"[" * 100_000

# Every hostile body: (content type, body, exact error_text).
HOSTILE = [
    ("application/xml", PLAIN_DOCTYPE, "Malformed XML: a DOCTYPE is not allowed"),
    ("application/xml", BILLION_LAUGHS, "Malformed XML: a DOCTYPE is not allowed"),
    ("application/xml", EXTERNAL_ENTITY, "Malformed XML: a DOCTYPE is not allowed"),
    ("text/xml", EXTERNAL_DTD, "Malformed XML: a DOCTYPE is not allowed"),
    ("application/xml", DEEP_XML, f"Malformed XML: nested deeper than {MAX_DEPTH} levels"),
    ("application/xml", b"<xml><id>5</id>", "Malformed XML: no element found: line 1, column 15"),
    ("application/xml", b"<xml><id>5</xml>", "Malformed XML: mismatched tag: line 1, column 12"),
    ("application/xml", b"<xml>&undefined;</xml>", "Malformed XML: undefined entity: line 1, column 5"),
    (
        "application/xml",
        b"<xml><a>&#0;</a></xml>",
        "Malformed XML: reference to invalid character number: line 1, column 8",
    ),
    ("application/xml", b"<xml><a>\xff</a></xml>", "Malformed XML: the body is not UTF-8 (invalid byte at offset 8)"),
    (
        "application/xml",
        b'<?xml version="1.0" encoding="ISO-8859-1"?><xml><a>b</a></xml>',
        "Malformed XML: the body must be UTF-8, not 'ISO-8859-1'",
    ),
    ("application/xml", b"{}", "Malformed XML: not well-formed (invalid token): line 1, column 0"),
    ("application/json", b'{"id": 5', "Malformed JSON: Expecting ',' delimiter at line 1 column 9"),
    (
        "application/json",
        b"{'id': 5}",
        "Malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2",
    ),
    ("application/json", b"<xml/>", "Malformed JSON: Expecting value at line 1 column 1"),
    ("application/json", b"[1, 2]", "Malformed JSON: the body must be an object of parameters"),
    ("application/json", b'"text"', "Malformed JSON: the body must be an object of parameters"),
    ("application/json", b"null", "Malformed JSON: the body must be an object of parameters"),
    ("application/json", b"5", "Malformed JSON: the body must be an object of parameters"),
    ("application/json", DEEP_JSON, f"Malformed JSON: nested deeper than {MAX_DEPTH} levels"),
    (
        "application/json",
        b'{"a": ' + b"[" * 500 + b"]" * 500 + b"}",
        f"Malformed JSON: nested deeper than {MAX_DEPTH} levels",
    ),
    ("application/json", b'{"id": "\xff"}', "Malformed JSON: the body is not UTF-8 (invalid byte at offset 8)"),
    (
        "application/json",
        '{"id": 5}'.encode("utf-16"),
        "Malformed JSON: the body is not UTF-8 (invalid byte at offset 0)",
    ),
    ("application/json", b'{"id": ' + b"9" * 5000 + b"}", "Malformed JSON: a number has more than 4300 digits"),
    ("application/json", b'{"id": NaN}', "Malformed JSON: NaN is not a JSON number"),
    ("application/json", b'{"id": -Infinity}', "Malformed JSON: -Infinity is not a JSON number"),
]


def _decode(content_type: str, body: bytes) -> dict[str, object]:
    return decode_body(body_kind(content_type, body), body)


@pytest.mark.parametrize(("content_type", "body", "text"), HOSTILE, ids=[text for _, _, text in HOSTILE])
def test_decode_hostile_body_is_bad_request(content_type: str, body: bytes, text: str) -> None:
    with pytest.raises(BadRequest) as raised:
        _decode(content_type, body)
    assert raised.value.text == text


def test_decode_json_at_depth_limit_is_accepted() -> None:
    body = '{"a": ' + "[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1) + "}"
    assert _decode("application/json", body.encode()) == json.loads(body)


def test_decode_json_one_past_depth_limit_is_refused() -> None:
    body = '{"a": ' + "[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH + "}"
    with pytest.raises(BadRequest, match="nested deeper than"):
        _decode("application/json", body.encode())


def test_decode_json_byte_order_mark_is_accepted() -> None:
    assert _decode("application/json", b'\xef\xbb\xbf{"id": 5}') == {"id": 5}


def test_decode_json_4300_digit_number_is_kept_for_validation() -> None:
    # Python's own limit; the parameter check then refuses it as out of range.
    assert _decode("application/json", b'{"id": ' + b"9" * 4300 + b"}") == {"id": int("9" * 4300)}


def test_decode_xml_with_declared_utf8_is_accepted() -> None:
    raw = '<?xml version="1.0" encoding="utf-8"?><xml><city>Rīga</city></xml>'.encode()
    assert _decode("text/xml", raw) == {"city": "Rīga"}


@pytest.mark.parametrize("content_type", ["application/json", "application/xml", "text/xml", None])
@pytest.mark.parametrize("body", [b"", b" \r\n\t"])
def test_decode_empty_body_is_empty_object(content_type: str | None, body: bytes) -> None:
    assert decode_body(body_kind(content_type, body), body) == {}


def test_parse_hostile_xml_takes_no_time() -> None:
    # Refused while parsing (before a tree exists), so 1.5 million levels cost nothing.
    deep = b"<a>" * 1_500_000 + b"</a>" * 1_500_000
    with pytest.raises(BadRequest, match="nested deeper than"):
        parse_xml(deep)


# --- content types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        ("application/json", BodyKind.JSON),
        ("application/json; charset=utf-8", BodyKind.JSON),
        ("Application/JSON", BodyKind.JSON),
        ("application/xml", BodyKind.XML),
        ("text/xml; charset=UTF-8", BodyKind.XML),
        ("TEXT/XML", BodyKind.XML),
    ],
)
def test_body_kind_known_content_types(content_type: str, kind: BodyKind) -> None:
    assert body_kind(content_type, b"{}") is kind


@pytest.mark.parametrize(
    ("content_type", "body", "shown"),
    [
        ("text/plain", b"{}", "text/plain"),
        ("text/plain", b"", "text/plain"),
        ("application/x-www-form-urlencoded", b"token=x", "application/x-www-form-urlencoded"),
        ("multipart/form-data; boundary=x", b"--x--", "multipart/form-data"),
        ("application/vnd.api+json", b"{}", "application/vnd.api+json"),
        (None, b'{"token": "x"}', "none"),
        ("", b"<xml/>", "none"),
    ],
)
def test_body_kind_other_content_type_is_415(content_type: str | None, body: bytes, shown: str) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        body_kind(content_type, body)
    assert raised.value.code == 415
    assert raised.value.text == (
        f"Unsupported content type: {shown}. Send application/json, application/xml or text/xml"
    )


def test_body_kind_no_content_type_and_no_body_is_empty() -> None:
    assert body_kind(None, b"") is BodyKind.EMPTY


# --- formats ----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "fmt"), [("json", Format.JSON), ("XML", Format.XML), (" Json ", Format.JSON)])
def test_parse_format_valid_any_case(value: str, fmt: Format) -> None:
    assert parse_format(value, "body") is fmt


@pytest.mark.parametrize(
    ("value", "shown"), [("yaml", "'yaml'"), ("", "''"), (1, "1"), (["xml"], "['xml']"), (None, "null")]
)
def test_parse_format_invalid_names_value_and_source(value: object, shown: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_format(value, "body")
    assert raised.value.text == f"Invalid parameter: format must be 'json' or 'xml', got {shown} (body)"


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        (None, Format.JSON),
        ("", Format.JSON),
        ("*/*", Format.JSON),
        ("application/json", Format.JSON),
        ("application/xml", Format.XML),
        ("text/xml", Format.XML),
        ("Application/XML; charset=utf-8", Format.XML),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", Format.XML),
        ("application/xml;q=0", Format.JSON),
        ("application/json, application/xml", Format.JSON),
        ("application/xml, application/json", Format.XML),
        ("application/json;q=0.5, application/xml", Format.XML),
        ("application/xml;q=0.5, application/json", Format.JSON),
        ("application/xml;q=oops", Format.XML),
    ],
)
def test_accept_format(accept: str | None, fmt: Format) -> None:
    assert accept_format(accept) is fmt


@pytest.mark.parametrize(
    ("query", "accept", "fmt"),
    [
        ("xml", None, Format.XML),
        ("json", "application/xml", Format.JSON),
        (None, "application/xml", Format.XML),
        ("yaml", "application/xml", Format.XML),
        ("yaml", None, Format.JSON),
    ],
)
def test_fallback_format_query_then_accept(query: str | None, accept: str | None, fmt: Format) -> None:
    assert fallback_format(query, accept) is fmt


# --- how values are shown in error texts ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("abc", "'abc'"),
        ("", "''"),
        (5, "5"),
        (-1, "-1"),
        (1.5, "1.5"),
        (2**70, "1180591620717411303424"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        ([5], "[5]"),
        ({"a": 1, "b": [True, None]}, "{'a': 1, 'b': [true, null]}"),
        ("9" * 5000, "'" + "9" * 73 + "...'"),
        (list(range(100)), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21..."),
        (int("9" * 4300), "9" * 77 + "..."),
        ([[[[[[1]]]]]], "[[[[[...]]]]]"),
        (10**5000, "<integer of 16610 bits>"),
    ],
    ids=lambda value: short_repr(value, 30),
)
def test_short_repr(value: object, shown: str) -> None:
    assert short_repr(value) == shown
    assert len(shown) <= 80


# --- echoed values are bounded ---------------------------------------------------------------


def test_parse_format_long_value_is_cut() -> None:
    with pytest.raises(BadRequest) as raised:
        parse_format("y" * 200_000, "body")
    assert (
        raised.value.text
        == f"Invalid parameter: format must be 'json' or 'xml', got {short_repr('y' * 200_000)} (body)"
    )
    assert len(raised.value.text) < 200


def test_decode_xml_long_declared_encoding_is_cut() -> None:
    with pytest.raises(BadRequest) as raised:
        _decode("application/xml", b'<?xml version="1.0" encoding="' + b"x" * 100_000 + b'"?><xml/>')
    assert raised.value.text == f"Malformed XML: the body must be UTF-8, not {short_repr('x' * 100_000)}"
    assert len(raised.value.text) < 200
