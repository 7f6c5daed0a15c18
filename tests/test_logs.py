"""Log lines as an operator reads them (tally/logs.py): a real ``tally serve`` with
TALLY_LOG_FORMAT=json writes one JSON object per line, the request id on each line of a
request (uvicorn's access line included), the task id on each line of a task's run, and
no token anywhere."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import httpx
import pytest

from tally.logs import REQUEST_ID, TASK_ID, JsonFormatter, TextFormatter, WorkIds
from tests.conftest import free_port
from tests.helpers import Api
from tests.processes import tally_processes

SECRET_MARK = "tly_"


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "tally.test", "levelname": "INFO", "msg": message, **extra})
    WorkIds().filter(record)
    return record


def test_the_ids_of_the_current_work_are_on_each_line_in_both_formats() -> None:
    request, task = REQUEST_ID.set("req-1"), TASK_ID.set("9b2c")
    try:
        record = _record("counted %d rows", args=(5,), kind="refresh")
    finally:
        REQUEST_ID.reset(request)
        TASK_ID.reset(task)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "counted 5 rows"
    assert (line["request_id"], line["task_id"], line["kind"]) == ("req-1", "9b2c", "refresh")
    assert line["level"] == "info" and line["logger"] == "tally.test" and line["time"].endswith("+00:00")
    assert TextFormatter().format(record).endswith("counted 5 rows [request=req-1 task=9b2c]")
    assert "request_id" not in json.loads(JsonFormatter().format(_record("idle")))


async def test_a_request_id_names_its_own_request_only(api: Api) -> None:
    response = await api.client.post("/api/v1.1/databases/list", headers={"X-Request-ID": "req-own"}, json={})
    assert response.headers["x-request-id"] == "req-own"
    assert REQUEST_ID.get() is None, "the id must not stay on the caller's context after the reply"


def test_an_exception_is_one_json_line_with_its_traceback() -> None:
    try:
        raise ValueError("broken")
    except ValueError:
        import sys

        record = _record("failed", exc_info=sys.exc_info())
    text = JsonFormatter().format(record)
    assert "\n" not in text
    assert "ValueError: broken" in json.loads(text)["exception"]


@pytest.mark.slow
def test_a_served_request_and_its_task_log_their_ids_as_json(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'logs.db'}"
    with tally_processes(database_url, tmp_path, {"TALLY_LOG_FORMAT": "json"}) as processes:
        created = processes.start("token", "create", "--account", "logs")
        assert created.wait(30) == 0
        token = (tmp_path / "tally-0-token.log").read_text().strip().splitlines()[-1]
        port = free_port()
        processes.serve(port, "--log-level", "info")
        base = f"http://127.0.0.1:{port}/api/v1.1"

        def call(method: str, body: dict[str, object], request_id: str) -> dict[str, object]:
            headers = {"X-Request-ID": request_id}
            reply = httpx.post(f"{base}/{method}", params={"token": token}, json=body, headers=headers)
            data: dict[str, object] = reply.json()["data"]
            return data

        database = call("databases/add", {"name": "Shop"}, "req-add-db")["id"]
        resource = call("resources/add", {"name": "News", "channels": ["email"], "dbs_ids": [database]}, "req-add-r")
        task_id = call("databases/refresh_counters", {"id": database, "resource_id": resource["id"]}, "req-refresh")
        for _ in range(100):
            if call("tasks/status", {"task_id": task_id["task_id"]}, "req-status")["status"] == "completed":
                break
            time.sleep(0.1)
        time.sleep(0.3)  # the access line of the last call is written after its reply
    text = (tmp_path / "tally-1-serve.log").read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert token not in text and SECRET_MARK + token.removeprefix(SECRET_MARK)[:12] not in text
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any(line.get("request_id") == "req-refresh" and "refresh_counters" in line["message"] for line in access)
    assert all("request_id" in line for line in access), access
    assert all("token=REDACTED" in line["message"] for line in access if "/api/" in line["message"])
    task_lines = [line for line in lines if task_id["task_id"] in line["message"]]
    assert task_lines and all(line.get("task_id") == task_id["task_id"] for line in task_lines), task_lines
