"""The ``data`` of tasks/status for one task, as of now."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.queue.queries import Task
from tally.queue.registry import Registry
from tally.queue.states import TaskStatus
from tally.timefmt import rfc3339_ms


async def status_data(conn: AsyncConnection, task: Task, registry: Registry) -> dict[str, Any]:
    """The task's status, progress and presented result, without the registered sections.

    This is also the payload of a feedback delivery, built when the task ends.
    """
    result = None
    if task.status is TaskStatus.COMPLETED and task.result is not None:
        # A kind this process does not know (a newer or retired one) shows its stored result.
        kind = registry.kinds.get(task.kind)
        result = task.result if kind is None else await kind.present(conn, task)
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


async def status_with_sections(conn: AsyncConnection, task: Task, registry: Registry) -> dict[str, Any]:
    """tasks/status ``data``: the status, then what each capability adds (e.g. ``feedback``)."""
    data = await status_data(conn, task, registry)
    for section in registry.status_sections:
        data.update(await section(conn, task))
    return data
