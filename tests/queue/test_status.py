"""tasks/status through the API: fields, their order, and how they change as a task runs."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.counters import refresh
from tally.queue import queries
from tally.queue.worker import Worker
from tally.store.engine import write_transaction
from tally.store.types import utcnow
from tests.helpers import Api, make_app
from tests.queue.support import LEASE, registry_for

KEYS = ["status", "progress", "result", "task_id", "error_text", "created", "started", "finished"]
UNKNOWN_ID = "930bfdb0-a5a8-4207-a77d-6b989bdea326"
RFC3339_MS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


@pytest.fixture
async def queued_api(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Api]:
    """An API client on the app without its worker: tasks stay queued until a test runs them."""
    async with make_app(settings, embedded_worker=False) as client:
        yield await Api.for_new_account(client, engine)


async def _start_refresh(api: Api) -> tuple[str, int, int]:
    database_id, resource_id = await api.setup_catalog()
    subscription = {"resource_id": resource_id, "channel": "email", "email": "ann@example.org"}
    await api.ok("profiles/add", {"db_id": database_id, "data": {"subscriptions": [subscription]}})
    started = await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})
    return str(started["task_id"]), database_id, resource_id


async def _run_worker(engine: AsyncEngine, settings: Settings) -> None:
    worker = Worker(engine, settings, registry_for({refresh.KIND: refresh.run_refresh}))
    assert await worker.run_once()


async def test_status_queued_task_has_only_created(queued_api: Api) -> None:
    task_id, _, _ = await _start_refresh(queued_api)
    data = await queued_api.ok("tasks/status", {"task_id": task_id})
    assert list(data) == KEYS
    assert data["status"] == "queued"
    assert (data["progress"], data["result"], data["task_id"], data["error_text"]) == (0, None, task_id, "")
    assert RFC3339_MS.fullmatch(data["created"])
    assert (data["started"], data["finished"]) == ("", "")


async def test_status_completed_task_has_all_times_and_result(
    queued_api: Api, engine: AsyncEngine, settings: Settings
) -> None:
    task_id, _, resource_id = await _start_refresh(queued_api)
    await _run_worker(engine, settings)
    data = await queued_api.ok("tasks/status", {"task_id": task_id})
    assert list(data) == KEYS
    assert (data["status"], data["progress"], data["error_text"]) == ("completed", 100, "")
    assert all(RFC3339_MS.fullmatch(data[key]) for key in ("created", "started", "finished"))
    assert data["created"] <= data["started"] <= data["finished"]
    [element] = data["result"]
    assert (element["resource_id"], element["total_count"], element["in_progress"]) == (resource_id, 1, False)
    assert element["refresh_task_id"] == ""


async def test_status_embedded_worker_completes_task(api: Api) -> None:
    task_id, _, _ = await _start_refresh(api)
    data = await api.wait_task(task_id)
    assert list(data) == KEYS
    assert (data["status"], data["progress"]) == ("completed", 100)
    assert isinstance(data["result"], list)


async def test_status_refresh_queued_again_same_task_id(queued_api: Api) -> None:
    task_id, database_id, resource_id = await _start_refresh(queued_api)
    again = await queued_api.ok("resources/refresh_counters", {"id": resource_id, "list_id": database_id})
    assert again == {"task_id": task_id}


async def test_status_result_shows_newer_refresh_in_progress(
    queued_api: Api, engine: AsyncEngine, settings: Settings
) -> None:
    task_id, database_id, resource_id = await _start_refresh(queued_api)
    await _run_worker(engine, settings)
    newer = await queued_api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})
    assert newer["task_id"] != task_id
    [element] = (await queued_api.ok("tasks/status", {"task_id": task_id}))["result"]
    assert (element["in_progress"], element["refresh_task_id"]) == (True, newer["task_id"])


async def test_status_failed_task_shows_error_text(queued_api: Api, engine: AsyncEngine) -> None:
    now = utcnow()
    async with write_transaction(engine) as conn:
        task_id, _ = await queries.task_insert(conn, account_id=queued_api.account_id, kind="test", params={}, now=now)
        claimed = await queries.task_claim(conn, owner="w1", now=now, lease=LEASE)
        assert claimed is not None
        await queries.task_renew_lease(conn, task_id=task_id, owner="w1", now=now, lease=LEASE, progress=35)
        await queries.task_fail(conn, task_id=task_id, owner="w1", now=now, error_text="Database not found: 5")
    data = await queued_api.ok("tasks/status", {"task_id": task_id})
    assert list(data) == KEYS
    assert (data["status"], data["progress"], data["result"]) == ("error", 35, None)
    assert data["error_text"] == "Database not found: 5"
    assert RFC3339_MS.fullmatch(data["started"]) and RFC3339_MS.fullmatch(data["finished"])


async def test_status_completed_task_of_unknown_kind_shows_stored_result(queued_api: Api, engine: AsyncEngine) -> None:
    now = utcnow()
    async with write_transaction(engine) as conn:
        task_id, _ = await queries.task_insert(
            conn, account_id=queued_api.account_id, kind="retired", params={}, now=now
        )
        assert await queries.task_claim(conn, owner="w1", now=now, lease=LEASE) is not None
        await queries.task_complete(conn, task_id=task_id, owner="w1", now=now, result={"kept": True})
    data = await queued_api.ok("tasks/status", {"task_id": task_id})
    assert (data["status"], data["result"]) == ("completed", {"kept": True})


@pytest.mark.parametrize(
    "task_id",
    [UNKNOWN_ID, "abc", "", "a\x00b", "{" + UNKNOWN_ID + "}", 5, None, ["x"], {"id": "x"}],
    ids=["unknown", "word", "empty", "nul", "braces", "number", "null", "list", "object"],
)
async def test_status_unknown_task_not_found(queued_api: Api, task_id: object) -> None:
    envelope = await queued_api.call("tasks/status", {"task_id": task_id})
    assert (envelope["error"], envelope["error_text"]) == (404, "Task not found")


async def test_status_lone_surrogate_task_id_not_found(queued_api: Api) -> None:
    body = f'{{"token": "{queued_api.token}", "task_id": "\\ud800"}}'
    response = await queued_api.client.post(
        "/api/v1.1/tasks/status", content=body, headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()["error_text"]) == (404, "Task not found")


async def test_status_task_id_in_other_spelling_found(queued_api: Api) -> None:
    task_id, _, _ = await _start_refresh(queued_api)
    for spelling in (task_id.upper(), f" {task_id}\n"):
        data = await queued_api.ok("tasks/status", {"task_id": spelling})
        assert data["task_id"] == task_id


async def test_status_task_of_other_account_not_found(queued_api: Api, engine: AsyncEngine) -> None:
    task_id, _, _ = await _start_refresh(queued_api)
    other = await Api.for_new_account(queued_api.client, engine)
    envelope = await other.call("tasks/status", {"task_id": task_id})
    assert (envelope["error"], envelope["error_text"]) == (404, "Task not found")
