"""The seed's request examples (seed-altcraft-statistics.txt), byte for byte where they can be.

Only the token and the ids are replaced by real ones; the responses must have the seed's
envelope, keys and order, in JSON and, line by line, in XML.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.helpers import Api
from tests.wire.support import UUID4, XML_PROLOG, assert_ok, envelope, from_xml_status, post_raw

SEED_TOKEN = "abcdefghijklmnqrstuvwxyz"
# The seed's feedback url, moved to loopback so that no test ever reaches the network.
FEEDBACK_URL = "http://127.0.0.1:9/receiver"

REFRESH_JSON = """{
"token": "abcdefghijklmnqrstuvwxyz",
"id": 5,
"resource_id": 24,
"format": "json",
"feedback": {
"type": "JSON",
"url": "http://example.com/receiver"
}
}"""

REFRESH_XML = """<xml>
<token>abcdefghijklmnqrstuvwxyz</token>
<id>5</id>
<resource_id>24</resource_id>
<format>json</format>
<feedback>
<type>JSON</type>
<url>http://example.com/receiver</url>
</feedback>
</xml>"""

REFRESH_RESPONSE_JSON = """{
"data": {
"task_id": "6908adeb-346e-4f5e-9f68-df062bf795cf"
},
"error": 0,
"error_text": "Successful operation"
}"""

REFRESH_RESPONSE_XML = """<xml>
<data>
<task_id>6908adeb-346e-4f5e-9f68-df062bf795cf</task_id>
</data>
<error>0</error>
<error_text>Successful operation</error_text>
</xml>"""

STATUS_JSON = """{
"task_id": "930bfdb0-a5a8-4207-a77d-6b989bdea326",
"token": "abcdefghijklmnqrstuvwxyz"
}"""

STATUS_XML = """<xml>
<task_id>930bfdb0-a5a8-4207-a77d-6b989bdea326</task_id>
<token>abcdefghijklmnqrstuvwxyz</token>
</xml>"""

_CHANNEL_XML = """<channels>
<channel>{channel}</channel>
<status>
<all>1336</all>
<complained>0</complained>
<hardbounced>{hardbounced}</hardbounced>
<invalid>0</invalid>
<subscribed>{subscribed}</subscribed>
<subscribed_sendable>{subscribed}</subscribed_sendable>
<suspended>0</suspended>
<unconfirmed>0</unconfirmed>
<unconfirmed_sendable>0</unconfirmed_sendable>
<unsubscribed>0</unsubscribed>
</status>
</channels>"""

STATUS_RESPONSE_XML = "\n".join(
    [
        "<xml>",
        "<data>",
        "<status>completed</status>",
        "<progress>100</progress>",
        "<result>",
        _CHANNEL_XML.format(channel="email", hardbounced=411, subscribed=925),
        _CHANNEL_XML.format(channel="push", hardbounced=0, subscribed=0),
        _CHANNEL_XML.format(channel="sms", hardbounced=0, subscribed=0),
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
)

# Leaf elements whose values depend on the data counted and the clock.
VARIABLE = {"all", "complained", "hardbounced", "invalid", "subscribed", "subscribed_sendable", "suspended"}
VARIABLE |= {"unconfirmed", "unconfirmed_sendable", "unsubscribed", "resource_id", "total_count"}
VARIABLE |= {"last_count_time", "updated", "task_id"}
RFC3339_MS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
LEAF = re.compile(r"<([a-z_]+)>([^<]*)</\1>")


def _refresh_body(seed: str, api: Api, database_id: int, resource_id: int, fmt: str = "json") -> str:
    body = seed.replace(SEED_TOKEN, api.token).replace("http://example.com/receiver", FEEDBACK_URL)
    body = re.sub(r'("id": |<id>)5\b', rf"\g<1>{database_id}", body)
    body = re.sub(r'("resource_id": |<resource_id>)24\b', rf"\g<1>{resource_id}", body)
    return body.replace('"format": "json"', f'"format": "{fmt}"').replace("<format>json<", f"<format>{fmt}<")


def _line_patterns(seed_xml: str) -> list[re.Pattern[str]]:
    """One pattern per seed line: exact, except the values of VARIABLE leaves."""
    patterns = []
    for line in seed_xml.split("\n"):
        leaf = LEAF.fullmatch(line)
        if leaf and leaf.group(1) in VARIABLE:
            patterns.append(re.compile(rf"<{leaf.group(1)}>[^<]*</{leaf.group(1)}>"))
        else:
            patterns.append(re.compile(re.escape(line)))
    return patterns


def _assert_lines_match(lines: list[str], seed_xml: str) -> None:
    patterns = _line_patterns(seed_xml)
    assert len(lines) == len(patterns), "\n".join(lines)
    for number, (line, pattern) in enumerate(zip(lines, patterns, strict=True), start=1):
        assert pattern.fullmatch(line), f"line {number}: {line!r} does not match {pattern.pattern!r}"


# --- databases/refresh_counters ---------------------------------------------------------


async def test_seed_refresh_json_body_gives_seed_json_response(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    body = _refresh_body(REFRESH_JSON, api, database_id, resource_id)
    assert json.loads(body)["id"] == database_id
    response = await post_raw(api.client, "databases/refresh_counters", body)
    decoded = envelope(response)
    assert re.fullmatch(UUID4, decoded["data"]["task_id"]), decoded
    expected = json.loads(REFRESH_RESPONSE_JSON)
    expected["data"]["task_id"] = decoded["data"]["task_id"]
    assert list(decoded.items()) == list(expected.items())
    assert list(decoded["data"]) == ["task_id"]


async def test_seed_refresh_xml_body_gives_seed_json_response(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    body = _refresh_body(REFRESH_XML, api, database_id, resource_id)
    assert f"<id>{database_id}</id>" in body
    response = await post_raw(api.client, "databases/refresh_counters", body, "application/xml")
    assert response.headers["content-type"] == "application/json"
    data = assert_ok(response)
    assert list(data) == ["task_id"] and re.fullmatch(UUID4, data["task_id"]), data


async def test_seed_refresh_xml_body_gives_seed_xml_response(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    body = _refresh_body(REFRESH_XML, api, database_id, resource_id, fmt="xml")
    response = await post_raw(api.client, "databases/refresh_counters", body, "text/xml")
    task_id = assert_ok(response)["task_id"]
    assert re.fullmatch(UUID4, task_id), task_id
    expected = REFRESH_RESPONSE_XML.replace("6908adeb-346e-4f5e-9f68-df062bf795cf", task_id)
    assert response.text.split("\n") == [XML_PROLOG, *expected.split("\n")]


async def test_seed_refresh_json_body_with_format_xml_gives_seed_xml_response(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    body = _refresh_body(REFRESH_JSON, api, database_id, resource_id, fmt="xml")
    response = await post_raw(api.client, "databases/refresh_counters", body)
    task_id = assert_ok(response)["task_id"]
    expected = REFRESH_RESPONSE_XML.replace("6908adeb-346e-4f5e-9f68-df062bf795cf", task_id)
    assert response.text.split("\n") == [XML_PROLOG, *expected.split("\n")]


# --- tasks/status -------------------------------------------------------------------------


async def _completed_task(api: Api) -> tuple[str, int]:
    """A finished refresh of a database with one profile subscribed by email: (task id, resource id)."""
    database_id, resource_id = await api.setup_catalog()
    subscription = {"resource_id": resource_id, "channel": "email", "email": "ann@example.org"}
    await api.ok("profiles/add", {"db_id": database_id, "data": {"subscriptions": [subscription]}})
    task_id = (await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id}))["task_id"]
    assert (await api.wait_task(task_id))["status"] == "completed"
    return task_id, resource_id


def _status_body(seed: str, api: Api, task_id: str) -> str:
    return seed.replace(SEED_TOKEN, api.token).replace("930bfdb0-a5a8-4207-a77d-6b989bdea326", task_id)


def _assert_seed_status_data(data: dict[str, Any], task_id: str, resource_id: int) -> None:
    assert list(data)[:8] == ["status", "progress", "result", "task_id", "error_text", "created", "started", "finished"]
    assert (data["status"], data["progress"], data["task_id"], data["error_text"]) == ("completed", 100, task_id, "")
    for moment in ("created", "started", "finished"):
        assert re.fullmatch(RFC3339_MS, data[moment]), data
    [element] = data["result"]
    assert list(element) == [
        "channels",
        "in_progress",
        "last_count_time",
        "refresh_task_id",
        "resource_id",
        "total_count",
        "updated",
    ]
    assert (element["in_progress"], element["refresh_task_id"]) == (False, "")
    assert (element["resource_id"], element["total_count"]) == (resource_id, 1)
    assert re.fullmatch(r"counted at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ in \S+", element["last_count_time"]), element
    assert re.fullmatch(RFC3339_MS, element["updated"]), element
    assert [channel["channel"] for channel in element["channels"]] == ["email", "push", "sms"]
    for channel in element["channels"]:
        assert list(channel) == ["channel", "status"]
        assert channel["status"]["all"] == 1
    email = element["channels"][0]["status"]
    assert (email["subscribed"], email["subscribed_sendable"]) == (1, 1)


async def test_seed_status_json_body_gives_seed_shaped_json(api: Api) -> None:
    task_id, resource_id = await _completed_task(api)
    response = await post_raw(api.client, "tasks/status", _status_body(STATUS_JSON, api, task_id))
    decoded = envelope(response)
    assert (decoded["error"], decoded["error_text"]) == (0, "Successful operation")
    _assert_seed_status_data(decoded["data"], task_id, resource_id)
    seed_status = json.loads(
        "{" + '"all": 1, "complained": 0, "hardbounced": 0, "invalid": 0, "subscribed": 0, '
        '"subscribed_sendable": 0, "suspended": 0, "unconfirmed": 0, "unconfirmed_sendable": 0, "unsubscribed": 0}'
    )
    assert list(decoded["data"]["result"][0]["channels"][1]["status"].items()) == list(seed_status.items())


async def test_seed_status_xml_body_gives_seed_shaped_json(api: Api) -> None:
    task_id, resource_id = await _completed_task(api)
    body = _status_body(STATUS_XML, api, task_id)
    response = await post_raw(api.client, "tasks/status", body, "application/xml")
    _assert_seed_status_data(assert_ok(response), task_id, resource_id)


async def test_seed_status_xml_response_matches_seed_line_by_line(api: Api) -> None:
    task_id, resource_id = await _completed_task(api)
    body = _status_body(STATUS_XML, api, task_id)
    response = await post_raw(
        api.client, "tasks/status", body, "application/xml", headers={"Accept": "application/xml"}
    )
    lines = response.text.split("\n")
    assert lines[0] == XML_PROLOG
    # Tally's additions come after the seed's members of data; compare them apart.
    end_of_result = lines.index("</result>")
    additions = lines[end_of_result + 1 : lines.index("</data>")]
    assert additions[:2] == [f"<task_id>{task_id}</task_id>", "<error_text></error_text>"]
    for line, name in zip(additions[2:5], ("created", "started", "finished"), strict=True):
        assert re.fullmatch(rf"<{name}>{RFC3339_MS}</{name}>", line), line
    seed_part = lines[1 : end_of_result + 1] + lines[end_of_result + 1 + len(additions) :]
    _assert_lines_match(seed_part, STATUS_RESPONSE_XML)
    assert f"<resource_id>{resource_id}</resource_id>" in lines
    assert seed_part.count("<all>1</all>") == 3


async def test_seed_status_json_and_xml_give_the_same_data(api: Api) -> None:
    task_id, _ = await _completed_task(api)
    as_json = envelope(await post_raw(api.client, "tasks/status", _status_body(STATUS_JSON, api, task_id)))
    body = _status_body(STATUS_XML, api, task_id).replace("</token>", "</token><format>xml</format>")
    response = await post_raw(api.client, "tasks/status", body, "application/xml")
    as_xml = envelope(response)
    assert response.text.startswith(XML_PROLOG)
    assert from_xml_status(as_xml) == as_json


def test_seed_line_patterns_reject_a_changed_line() -> None:
    lines = STATUS_RESPONSE_XML.split("\n")
    _assert_lines_match(lines, STATUS_RESPONSE_XML)
    changed = [line.replace("<channel>push</channel>", "<channel>viber</channel>") for line in lines]
    try:
        _assert_lines_match(changed, STATUS_RESPONSE_XML)
    except AssertionError:
        return
    raise AssertionError("a changed channel name was not noticed")
