"""The queue's public face for capabilities: how a kind of task is declared and run.

A capability declares a TaskKind (its name, the Runner the worker calls, and how
tasks/status shows its result) and imports nothing else of the queue but this module,
``registry`` and, for its own statements, ``queries``.

A run ends in one of these ways, which the worker alone turns into the task's next state:

* the runner returns a Finish: the task is completed with what Finish returns, in the
  transaction that writes what goes with it;
* it raises TaskFailed: the task ends as error with that text (retrying cannot help);
* it raises RetryLater: the task goes back to the queue, due after a delay;
* anything else: the task ends as error (a lost database connection puts it back instead).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.config import Settings
from tally.queue.queries import Task

Clock = Callable[[], datetime]
#: What a run hands back: called inside the transaction that marks the task completed, it
#: writes what goes with the result (counters, deliveries) and returns the result.
Finish = Callable[[AsyncConnection, datetime], Awaitable[Any]]
#: Records progress (0-99) and renews the lease.
ProgressReporter = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Execution:
    """What the code of a running task may use: its task, the engine, the clock, progress."""

    task: Task
    engine: AsyncEngine
    settings: Settings
    clock: Clock
    _report: ProgressReporter

    async def report_progress(self, percent: int) -> None:
        """Record progress (0-99) and renew the lease; raises LeaseLost if it was taken."""
        await self._report(min(max(percent, 0), 99))


Runner = Callable[[Execution], Awaitable[Finish]]
#: Turns a stored result into what tasks/status shows (it may add live facts). It may read
#: only the task and the tasks sharing its dedupe key: API processes remember what it
#: showed until one of those changes (queue/known_statuses.py).
Presenter = Callable[[AsyncConnection, Task], Awaitable[Any]]


async def stored_result(conn: AsyncConnection, task: Task) -> Any:
    """The default presentation: the result as it was stored."""
    return task.result


@dataclass(frozen=True)
class TaskKind:
    name: str
    run: Runner
    present: Presenter = stored_result


class TaskFailed(Exception):
    """A task that cannot succeed however often it is retried; the text is its error_text."""


class RetryLater(Exception):
    """Run the task again after ``delay`` seconds; ``finish`` records this try meanwhile.

    ``finish`` is called in the transaction that puts the task back in the queue, like the
    Finish of a completed run.
    """

    def __init__(self, delay: float, finish: Finish) -> None:
        super().__init__(f"retry in {delay:g}s")
        self.delay = delay
        self.finish = finish
