"""tasks/status: what a task is doing, and its result once it has one."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from tally.counters.timefmt import rfc3339_ms
from tally.queue.errors import TaskNotFound
from tally.queue.queries import task_get
from tally.queue.states import TaskStatus
from tally.store.engine import read_transaction
from tally.wire.methods import Call, Method
from tally.wire.params import Params


class TaskRef(Params):
    task_id: Any = Field(description="Task id from refresh_counters")


async def task_status(call: Call, params: TaskRef) -> dict[str, Any]:
    # Any id that names no task of this account, malformed or not, is simply not found.
    task_id = params.task_id if isinstance(params.task_id, str) else ""
    async with read_transaction(call.runtime.engine) as conn:
        task = await task_get(conn, call.account_id, task_id.strip()) if task_id.strip() else None
        if task is None:
            raise TaskNotFound()
        result = None
        if task.status is TaskStatus.COMPLETED and task.result is not None:
            result = await call.runtime.task_kinds[task.kind].present(conn, task)
    return {
        "status": task.status.value,
        "progress": task.progress,
        "result": result,
        "task_id": task.id,
        "error_text": task.error_text,
        "created": rfc3339_ms(task.created_at),
        "started": rfc3339_ms(task.started_at),
        "finished": rfc3339_ms(task.finished_at),
    }


METHODS = [
    Method(
        "tasks/status",
        TaskRef,
        task_status,
        "Status, progress and result of a task",
        example={"task_id": "930bfdb0-a5a8-4207-a77d-6b989bdea326"},
        response_example={
            "status": "queued",
            "progress": 0,
            "result": None,
            "task_id": "930bfdb0-a5a8-4207-a77d-6b989bdea326",
            "error_text": "",
            "created": "2024-04-17T21:36:01.366Z",
            "started": "",
            "finished": "",
        },
    )
]
