"""What the capabilities register with the queue: kinds, end-of-task hooks, maintenance passes.

The application builds one Registry from every capability's declarations; the worker, the
maintenance passes and tasks/status read it. Nothing in the queue names a capability.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.config import Settings
from tally.queue.execution import TaskKind
from tally.queue.queries import Task


@dataclass(frozen=True)
class TaskEnded:
    """A task that has just ended (completed or error), seen inside the ending transaction."""

    conn: AsyncConnection
    task: Task
    now: datetime
    registry: Registry


#: Runs in the transaction that ends a task: what it writes commits with the end, or not at all.
EndHook = Callable[[TaskEnded], Awaitable[None]]
#: Adds keys to a task's tasks/status ``data`` (e.g. its feedback deliveries), from rows
#: whose every change notifies ``tally_task_changes`` with the task's id, as migration
#: 0019's trigger on feedback_deliveries does (queue/known_statuses.py says why).
StatusSection = Callable[[AsyncConnection, Task], Awaitable[Mapping[str, Any]]]


@dataclass(frozen=True)
class MaintenancePass:
    """Periodic upkeep run by every worker in its own transaction, apart from claiming."""

    name: str
    run: Callable[[AsyncConnection, datetime, Settings], Awaitable[None]]


@dataclass(frozen=True)
class Registry:
    kinds: Mapping[str, TaskKind] = field(default_factory=dict)
    end_hooks: Sequence[EndHook] = ()
    status_sections: Sequence[StatusSection] = ()
    maintenance: Sequence[MaintenancePass] = ()

    @classmethod
    def of(cls, *kinds: TaskKind, end_hooks: Sequence[EndHook] = ()) -> Registry:
        return cls(kinds={kind.name: kind for kind in kinds}, end_hooks=tuple(end_hooks))

    async def task_ended(self, conn: AsyncConnection, task: Task, now: datetime) -> None:
        ended = TaskEnded(conn=conn, task=task, now=now, registry=self)
        for hook in self.end_hooks:
            await hook(ended)
