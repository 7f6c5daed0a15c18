"""What a running Tally process shares between requests and its worker."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.queue.known_statuses import KnownStatuses
from tally.queue.registry import Registry


@dataclass
class Runtime:
    engine: AsyncEngine
    settings: Settings
    #: Every capability's task kinds and hooks (tasks/status presents results with it).
    registry: Registry
    #: Set when a task is queued by this process, so that an embedded worker wakes at once.
    task_queued: asyncio.Event = field(default_factory=asyncio.Event)
    #: What tasks/status showed, remembered while every change of a task is heard.
    known_statuses: KnownStatuses = field(default_factory=KnownStatuses)
    #: Set when the process starts shutting down; new requests get 503.
    is_stopping: bool = False
