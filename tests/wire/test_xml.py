"""wire/xml.py: the XML mapping of api.md section 2, parse and render, as units."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tally.errors import BadRequest
from tally.wire.bounds import MAX_DEPTH
from tally.wire.codec import Format, encode, success_envelope
from tally.wire.xml import parse_xml, render_xml
from tests.wire.support import COUNTERS, from_xml_status


def _status(**nonzero: int) -> dict[str, int]:
    return {name: nonzero.get(name, 0) for name in COUNTERS}


# The seed's tasks/status response data (seed-altcraft-statistics.txt).
SEED_STATUS_DATA: dict[str, Any] = {
    "status": "completed",
    "progress": 100,
    "result": [
        {
            "channels": [
                {
                    "channel": "email",
                    "status": _status(all=1336, hardbounced=411, subscribed=925, subscribed_sendable=925),
                },
                {"channel": "push", "status": _status(all=1336)},
                {"channel": "sms", "status": _status(all=1336)},
            ],
            "in_progress": False,
            "last_count_time": "counted at 2024-04-17T21:36:01Z in 82.746959ms",
            "refresh_task_id": "",
            "resource_id": 24,
            "total_count": 1336,
            "updated": "2024-04-17T21:36:01.449Z",
        }
    ],
}

# --- parse ------------------------------------------------------------------------------


def test_parse_flat_elements_give_strings() -> None:
    assert parse_xml(b"<xml><token>t</token><id>5</id></xml>") == {"token": "t", "id": "5"}


def test_parse_keys_keep_document_order() -> None:
    assert list(parse_xml(b"<xml><b>1</b><a>2</a><c>3</c></xml>")) == ["b", "a", "c"]


def test_parse_repeated_elements_give_list() -> None:
    assert parse_xml(b"<xml><dbs_ids>1</dbs_ids><dbs_ids>2</dbs_ids><dbs_ids>3</dbs_ids></xml>") == {
        "dbs_ids": ["1", "2", "3"]
    }


def test_parse_repeated_elements_not_adjacent_give_one_list() -> None:
    assert parse_xml(b"<xml><a>1</a><b>x</b><a>2</a></xml>") == {"a": ["1", "2"], "b": "x"}


def test_parse_array_true_single_element_gives_list() -> None:
    assert parse_xml(b'<xml><dbs_ids array="true">5</dbs_ids></xml>') == {"dbs_ids": ["5"]}


def test_parse_array_true_single_quotes_gives_list() -> None:
    assert parse_xml(b"<xml><dbs_ids array='true'>5</dbs_ids></xml>") == {"dbs_ids": ["5"]}


def test_parse_array_true_is_case_insensitive() -> None:
    assert parse_xml(b'<xml><a array="TRUE">5</a></xml>') == {"a": ["5"]}


def test_parse_array_false_single_element_gives_scalar() -> None:
    assert parse_xml(b'<xml><a array="false">5</a></xml>') == {"a": "5"}


@pytest.mark.parametrize("element", [b'<a array="true"/>', b'<a array="true"></a>', b'<a array="true">  \n </a>'])
def test_parse_empty_array_element_gives_empty_list(element: bytes) -> None:
    assert parse_xml(b"<xml>" + element + b"</xml>") == {"a": []}


def test_parse_array_true_with_children_gives_list_of_one_object() -> None:
    raw = b'<xml><subscriptions array="true"><channel>email</channel></subscriptions></xml>'
    assert parse_xml(raw) == {"subscriptions": [{"channel": "email"}]}


def test_parse_repeated_with_empty_array_element_gives_empty_string_item() -> None:
    # "Alone" it would be []; among siblings it is one (empty) item.
    assert parse_xml(b'<xml><a array="true"/><a>1</a></xml>') == {"a": ["", "1"]}


def test_parse_empty_element_gives_empty_string() -> None:
    assert parse_xml(b"<xml><name/><description></description></xml>") == {"name": "", "description": ""}


@pytest.mark.parametrize("root", [b"xml", b"request", b"Anything"])
def test_parse_root_name_is_ignored(root: bytes) -> None:
    assert parse_xml(b"<" + root + b"><id>5</id></" + root + b">") == {"id": "5"}


def test_parse_root_attributes_are_ignored() -> None:
    assert parse_xml(b'<xml version="2"><id>5</id></xml>') == {"id": "5"}


def test_parse_whitespace_around_text_is_trimmed() -> None:
    raw = b"<xml>\n  <token>\n\t abc \n</token>\n  <id> 5 </id>\n</xml>\n"
    assert parse_xml(raw) == {"token": "abc", "id": "5"}


def test_parse_inner_whitespace_is_kept() -> None:
    assert parse_xml(b"<xml><name> Ann  Lee </name></xml>") == {"name": "Ann  Lee"}


def test_parse_nested_objects() -> None:
    raw = b"""<?xml version="1.0" encoding="UTF-8"?>
    <xml>
      <data>
        <email>ann@example.org</email>
        <subscriptions><resource_id>24</resource_id><cc_data><id>42</id></cc_data></subscriptions>
        <subscriptions><resource_id>25</resource_id></subscriptions>
      </data>
    </xml>"""
    assert parse_xml(raw) == {
        "data": {
            "email": "ann@example.org",
            "subscriptions": [{"resource_id": "24", "cc_data": {"id": "42"}}, {"resource_id": "25"}],
        }
    }


def test_parse_character_references_and_cdata_are_text() -> None:
    raw = b"<xml><a>&lt;b&gt; &amp; &#233;</a><b><![CDATA[<x>&]]></b></xml>"
    assert parse_xml(raw) == {"a": "<b> & \u00e9", "b": "<x>&"}


def test_parse_utf8_text_is_decoded() -> None:
    assert parse_xml("<xml><city>Rīga ✓</city></xml>".encode()) == {"city": "Rīga ✓"}


def test_parse_utf8_byte_order_mark_is_accepted() -> None:
    assert parse_xml(b"\xef\xbb\xbf<xml><id>5</id></xml>") == {"id": "5"}


def test_parse_comments_and_processing_instructions_are_ignored() -> None:
    assert parse_xml(b"<xml><!-- note --><?pi x?><id>5</id></xml>") == {"id": "5"}


def test_parse_empty_root_gives_empty_object() -> None:
    assert parse_xml(b"<xml/>") == {}


def test_parse_root_with_text_only_is_refused() -> None:
    with pytest.raises(BadRequest, match=r"^Malformed XML: the root element must contain parameter elements$"):
        parse_xml(b"<xml>5</xml>")


def test_parse_nesting_at_the_limit_is_accepted() -> None:
    raw = b"<xml>" + b"<a>" * MAX_DEPTH + b"1" + b"</a>" * MAX_DEPTH + b"</xml>"
    value: Any = parse_xml(raw)
    for _ in range(MAX_DEPTH - 1):
        value = value["a"]
    assert value == {"a": "1"}


def test_parse_nesting_over_the_limit_is_refused() -> None:
    raw = b"<xml>" + b"<a>" * (MAX_DEPTH + 1) + b"1" + b"</a>" * (MAX_DEPTH + 1) + b"</xml>"
    with pytest.raises(BadRequest, match=f"^Malformed XML: nested deeper than {MAX_DEPTH} levels$"):
        parse_xml(raw)


# --- render -----------------------------------------------------------------------------


def _lines(document: dict[str, Any]) -> list[str]:
    return render_xml(document).decode().split("\n")


def test_render_starts_with_prolog_and_root_xml() -> None:
    assert _lines({"a": 1}) == ['<?xml version="1.0" encoding="UTF-8"?>', "<xml>", "<a>1</a>", "</xml>"]


def test_render_keys_keep_their_order() -> None:
    assert _lines({"b": 1, "a": 2})[2:4] == ["<b>1</b>", "<a>2</a>"]


def test_render_list_repeats_the_element() -> None:
    assert _lines({"result": ["a", "b"]})[2:4] == ["<result>a</result>", "<result>b</result>"]


def test_render_list_of_objects_repeats_the_element() -> None:
    lines = _lines({"items": [{"id": 1}, {"id": 2}]})
    assert lines[2:-1] == ["<items>", "<id>1</id>", "</items>", "<items>", "<id>2</id>", "</items>"]


def test_render_empty_list_is_one_empty_element() -> None:
    assert _lines({"resources_ids": [], "x": 1})[2:4] == ["<resources_ids></resources_ids>", "<x>1</x>"]


def test_render_booleans_are_true_false() -> None:
    assert _lines({"a": True, "b": False})[2:4] == ["<a>true</a>", "<b>false</b>"]


def test_render_none_and_empty_string_are_empty_elements() -> None:
    assert _lines({"a": None, "b": ""})[2:4] == ["<a></a>", "<b></b>"]


def test_render_numbers_are_decimal_text() -> None:
    assert _lines({"a": 0, "b": -7, "c": 2**63 - 1, "d": 1.5})[2:6] == [
        "<a>0</a>",
        "<b>-7</b>",
        "<c>9223372036854775807</c>",
        "<d>1.5</d>",
    ]


def test_render_escapes_markup_characters() -> None:
    assert _lines({"a": "<b> & </b> ]]>"})[2] == "<a>&lt;b&gt; &amp; &lt;/b&gt; ]]&gt;</a>"


def test_render_escaped_text_parses_back_unchanged() -> None:
    text = "<script>alert('x') & \"y\"</script>\r\n\tz"
    # Only surrounding whitespace is trimmed by the mapping; this text has none.
    assert parse_xml(render_xml({"a": text})) == {"a": text}


def test_render_xml_forbidden_characters_are_replaced() -> None:
    document = render_xml({"error_text": "Unknown method: a\x00b\x1fc\ufffe"})
    assert parse_xml(document) == {"error_text": "Unknown method: a\ufffdb\ufffdc\ufffd"}


def test_render_nested_object() -> None:
    assert _lines({"data": {"task_id": "t"}})[1:] == ["<xml>", "<data>", "<task_id>t</task_id>", "</data>", "</xml>"]


def test_render_error_envelope_has_empty_data_element() -> None:
    body = encode({"error": 404, "error_text": "Task not found"}, Format.XML).decode().split("\n")
    assert body[1:] == [
        "<xml>",
        "<data></data>",
        "<error>404</error>",
        "<error_text>Task not found</error_text>",
        "</xml>",
    ]


# --- round trip -------------------------------------------------------------------------


def test_round_trip_seed_status_xml_gives_json_data() -> None:
    envelope = success_envelope(SEED_STATUS_DATA)
    xml = encode(envelope, Format.XML)
    as_json = json.loads(encode(envelope, Format.JSON))
    assert from_xml_status(parse_xml(xml)) == as_json


def test_round_trip_seed_status_detects_a_changed_value() -> None:
    changed = copy.deepcopy(SEED_STATUS_DATA)
    changed["result"][0]["channels"][0]["status"]["hardbounced"] = 412
    xml = encode(success_envelope(changed), Format.XML)
    assert from_xml_status(parse_xml(xml)) != success_envelope(SEED_STATUS_DATA)


def test_round_trip_queued_status_with_null_result() -> None:
    data = {"status": "queued", "progress": 0, "result": None, "task_id": "t", "error_text": ""}
    envelope = success_envelope(data)
    assert from_xml_status(parse_xml(encode(envelope, Format.XML))) == envelope


def test_round_trip_seed_status_xml_matches_seed_lines() -> None:
    lines = render_xml(success_envelope(SEED_STATUS_DATA)).decode().split("\n")
    assert lines[:8] == [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<xml>",
        "<data>",
        "<status>completed</status>",
        "<progress>100</progress>",
        "<result>",
        "<channels>",
        "<channel>email</channel>",
    ]
    assert lines[-12:] == [
        "</channels>",
        "<in_progress>false</in_progress>",
        "<last_count_time>counted at 2024-04-17T21:36:01Z in 82.746959ms</last_count_time>",
        "<refresh_task_id></refresh_task_id>",
        "<resource_id>24</resource_id>",
        "<total_count>1336</total_count>",
        "<updated>2024-04-17T21:36:01.449Z</updated>",
        "</result>",
        "</data>",
        "<error>0</error>",
        "<error_text>Successful operation</error_text>",
        "</xml>",
    ]
