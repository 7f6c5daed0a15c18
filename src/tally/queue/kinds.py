"""A kind of task: the code a worker runs for it, and how tasks/status shows its result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.queue.queries import Task
from tally.queue.worker import Runner

#: Turns a stored result into what tasks/status shows (it may add live facts).
Presenter = Callable[[AsyncConnection, Task], Awaitable[Any]]


@dataclass(frozen=True)
class TaskKind:
    name: str
    run: Runner
    present: Presenter
