"""The ``feedback`` parameter: checked when the request is made; one delivery per url and type."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.store.engine import read_transaction
from tally.store.tables import feedback_deliveries, tasks
from tests.feedback.receiver import Receiver
from tests.feedback.support import refresh_with, running_worker, wait_feedback
from tests.helpers import Api

URL = "https://hooks.example.com/tally"
SHAPE = 'must be an object {"type": "JSON" or "XML", "url": "http(s)://..."}'
BAD_URL = "feedback.url must be an absolute http(s) URL of at most 2048 characters"

INVALID: list[tuple[Any, str]] = [
    ({"type": "HTML", "url": URL}, "Invalid parameter: feedback.type must be 'JSON' or 'XML', got 'HTML'"),
    ({"type": "", "url": URL}, "Invalid parameter: feedback.type must be 'JSON' or 'XML', got ''"),
    ({"type": "jsonp", "url": URL}, "Invalid parameter: feedback.type must be 'JSON' or 'XML', got 'jsonp'"),
    ({"type": 5, "url": URL}, "Invalid parameter: feedback.type must be a string, got 5"),
    ({"url": URL}, "Missing parameter: feedback.type"),
    ({}, "Missing parameter: feedback.type"),
    ({"type": "json"}, "Missing parameter: feedback.url"),
    (
        {"type": "json", "url": "ftp://hooks.example.com/"},
        f"Invalid parameter: {BAD_URL}, got 'ftp://hooks.example.com/'",
    ),
    ({"type": "json", "url": "/hooks/tally"}, f"Invalid parameter: {BAD_URL}, got '/hooks/tally'"),
    ({"type": "json", "url": "hooks.example.com/x"}, f"Invalid parameter: {BAD_URL}, got 'hooks.example.com/x'"),
    ({"type": "json", "url": "http://"}, f"Invalid parameter: {BAD_URL}, got 'http://'"),
    ({"type": "json", "url": "http://h:port/"}, f"Invalid parameter: {BAD_URL}, got 'http://h:port/'"),
    ({"type": "json", "url": "http://h:99999/"}, f"Invalid parameter: {BAD_URL}, got 'http://h:99999/'"),
    ({"type": "json", "url": "http://h.example/a b"}, f"Invalid parameter: {BAD_URL}, got 'http://h.example/a b'"),
    ({"type": "json", "url": "javascript:alert(1)"}, f"Invalid parameter: {BAD_URL}, got 'javascript:alert(1)'"),
    ({"type": "json", "url": 5}, "Invalid parameter: feedback.url must be a string, got 5"),
    ("http://hooks.example.com/", f"Invalid parameter: feedback {SHAPE}, got 'http://hooks.example.com/'"),
    (["JSON", URL], f"Invalid parameter: feedback {SHAPE}, got ['JSON', '{URL}']"),
    (5, f"Invalid parameter: feedback {SHAPE}, got 5"),
    (True, f"Invalid parameter: feedback {SHAPE}, got true"),
]


async def counts(engine: AsyncEngine) -> tuple[int, int]:
    async with read_transaction(engine) as conn:
        queued = await conn.scalar(select(func.count()).select_from(tasks))
        deliveries = await conn.scalar(select(func.count()).select_from(feedback_deliveries))
    return int(queued or 0), int(deliveries or 0)


@pytest.mark.parametrize("method", ["databases/refresh_counters", "resources/refresh_counters"])
async def test_invalid_feedback_is_400_and_nothing_is_queued(idle_api: Api, engine: AsyncEngine, method: str) -> None:
    database_id, resource_id = await idle_api.setup_catalog()
    ids = {"id": database_id, "resource_id": resource_id}
    if method.startswith("resources/"):
        ids = {"id": resource_id, "list_id": database_id}

    for feedback, text in INVALID:
        envelope = await idle_api.call(method, {**ids, "feedback": feedback})
        assert (envelope["error"], envelope["error_text"]) == (400, text), feedback

    assert await counts(engine) == (0, 0)


async def test_too_long_url_is_400(idle_api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await idle_api.setup_catalog()
    longest = "https://hooks.example.com/" + "a" * (2048 - len("https://hooks.example.com/"))
    body = {"id": database_id, "resource_id": resource_id}

    envelope = await idle_api.call("databases/refresh_counters", {**body, "feedback": {"type": "x", "url": longest}})
    assert envelope["error_text"].startswith("Invalid parameter: feedback.type")
    envelope = await idle_api.call(
        "databases/refresh_counters", {**body, "feedback": {"type": "xml", "url": longest + "a"}}
    )
    assert envelope["error"] == 400
    assert envelope["error_text"].startswith(f"Invalid parameter: {BAD_URL}, got 'https://hooks.example.com/aaa")
    assert await counts(engine) == (0, 0)

    await idle_api.ok("databases/refresh_counters", {**body, "feedback": {"type": "xml", "url": longest}})
    assert await counts(engine) == (1, 1)


async def test_type_in_any_case_is_shown_upper_case(idle_api: Api) -> None:
    catalog = await idle_api.setup_catalog()
    task_id = await refresh_with(
        idle_api, {"type": "json", "url": URL}, {"type": " Xml ", "url": URL + "/x"}, catalog=catalog
    )

    data = await idle_api.ok("tasks/status", {"task_id": task_id})

    assert data["status"] == "queued"
    assert [(entry["type"], entry["status"], entry["attempts"]) for entry in data["feedback"]] == [
        ("JSON", "pending", 0),
        ("XML", "pending", 0),
    ]


async def test_no_feedback_means_no_feedback_member(idle_api: Api) -> None:
    task_id = await refresh_with(idle_api)
    data = await idle_api.ok("tasks/status", {"task_id": task_id})
    assert "feedback" not in data
    # null and "" (an empty XML element) are no feedback either.
    database_id, resource_id = await idle_api.setup_catalog()
    for empty in (None, ""):
        body = {"id": database_id, "resource_id": resource_id, "feedback": empty}
        started = await idle_api.ok("databases/refresh_counters", body)
        assert "feedback" not in await idle_api.ok("tasks/status", started)


async def test_feedback_in_an_xml_request(idle_api: Api) -> None:
    database_id, resource_id = await idle_api.setup_catalog()
    body = (
        f"<xml><token>{idle_api.token}</token><id>{database_id}</id><resource_id>{resource_id}</resource_id>"
        f"<feedback><type>xml</type><url>{URL}?a=1&amp;b=2</url></feedback></xml>"
    )
    response = await idle_api.client.post(
        "/api/v1.1/databases/refresh_counters",
        content=body,
        headers={"content-type": "application/xml", "accept": "application/json"},
    )
    task_id = response.json()["data"]["task_id"]

    data = await idle_api.ok("tasks/status", {"task_id": task_id})

    assert data["feedback"] == [
        {"url": f"{URL}?a=1&b=2", "type": "XML", "status": "pending", "attempts": 0, "last_error": ""}
    ]


async def test_duplicate_requests_share_the_task_and_its_deliveries(
    idle_api: Api, engine: AsyncEngine, settings: Settings, receiver: Receiver
) -> None:
    same = {"type": "JSON", "url": receiver.url("/a")}
    catalog = await idle_api.setup_catalog()
    # The same url and type three times (from both sides), then another url: one task.
    task_id = await refresh_with(idle_api, same, {"type": "json", "url": receiver.url("/a")}, catalog=catalog)
    duplicate = await idle_api.ok(
        "resources/refresh_counters", {"id": catalog[1], "list_id": catalog[0], "feedback": same}
    )
    assert duplicate["task_id"] == task_id
    assert await refresh_with(idle_api, {"type": "XML", "url": receiver.url("/b")}, catalog=catalog) == task_id
    assert await counts(engine) == (1, 2)

    async with running_worker(engine, settings):
        data = await wait_feedback(idle_api, task_id)

    assert [(entry["url"], entry["type"], entry["status"]) for entry in data["feedback"]] == [
        (receiver.url("/a"), "JSON", "delivered"),
        (receiver.url("/b"), "XML", "delivered"),
    ]
    assert sorted(request.path for request in receiver.requests) == ["/a", "/b"]


async def test_a_refresh_after_the_first_finished_is_a_new_task_with_its_own_delivery(
    api: Api, receiver: Receiver
) -> None:
    catalog = await api.setup_catalog()
    feedback = {"type": "JSON", "url": receiver.url()}
    first = await refresh_with(api, feedback, catalog=catalog)
    await wait_feedback(api, first)
    second = await refresh_with(api, feedback, catalog=catalog)
    await wait_feedback(api, second)

    assert first != second
    assert [
        request.body.count(task_id.encode())
        for request, task_id in zip(receiver.requests, [first, second], strict=True)
    ] == [1, 1]
