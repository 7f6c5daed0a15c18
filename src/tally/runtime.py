"""What a running Tally process shares between requests and its worker."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings

if TYPE_CHECKING:
    from tally.queue.kinds import TaskKind


@dataclass
class Runtime:
    engine: AsyncEngine
    settings: Settings
    task_kinds: Mapping[str, TaskKind]
    #: Set when a task is queued by this process, so that an embedded worker wakes at once.
    task_queued: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set when the process starts shutting down; new requests get 503.
    is_stopping: bool = False
