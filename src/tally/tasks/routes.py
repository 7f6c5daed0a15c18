"""tasks/status: what a task is doing, and its result once it has one."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client import Counter
from pydantic import Field

from tally.capability import Capability
from tally.errors import NotFound
from tally.queue.known_statuses import names_of
from tally.queue.queries import task_get
from tally.store.engine import read_statements
from tally.tasks.status import status_with_sections
from tally.wire.methods import Call, Method
from tally.wire.params import Params

POLLS = Counter(
    "tally_task_status_polls",
    "tasks/status polls of a well-formed task id: answered from memory (queue/known_statuses.py) or read",
    ["answer"],
)


class TaskNotFound(NotFound):
    """Task not found"""


class TaskRef(Params):
    task_id: Any = Field(description="Task id from refresh_counters")


TASK_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def task_key(raw: object) -> str | None:
    """The stored form of a task id (a lower-case UUID), or None for anything that cannot be one.

    Only a well-formed id reaches the database: a NUL or a lone surrogate in arbitrary text
    would make the query itself fail (500) instead of finding nothing.
    """
    if not isinstance(raw, str) or not TASK_ID.fullmatch(raw.strip()):
        return None
    return raw.strip().lower()


async def task_status(call: Call, params: TaskRef) -> dict[str, Any]:
    # Any id that names no task of this account, malformed or not, is simply not found.
    task_id = task_key(params.task_id)
    if task_id is None:
        raise TaskNotFound()
    known = call.runtime.known_statuses  # a poll of an unchanged task reads nothing
    data = known.recall(call.account_id, task_id)
    if data is not None:
        POLLS.labels("remembered").inc()
        return data
    POLLS.labels("read").inc()
    read_at = known.generation
    # No common snapshot: the deliveries are read a moment after the task, so they may be a
    # step further on (pending for a task just seen processing); the next poll agrees.
    async with read_statements(call.runtime.engine) as conn:
        task = await task_get(conn, call.account_id, task_id)
        if task is None:
            raise TaskNotFound()
        data = await status_with_sections(conn, task, call.runtime.registry)
    known.remember(call.account_id, task.id, data, names=names_of(task), read_at=read_at)
    return data


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
        writes=False,
    )
]

CAPABILITY = Capability("tasks", methods=METHODS)
