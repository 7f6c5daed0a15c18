"""The queue as /metrics reports it: active tasks per kind and status, and the oldest due."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.queue.states import ACTIVE_STATUSES, TaskStatus
from tally.store.tables import tasks


class QueueDepth(NamedTuple):
    #: (kind, status) -> tasks, for queued and processing (finished ones are history).
    active: dict[tuple[str, str], int]
    #: kind -> when the longest-waiting due task was due.
    oldest_due: dict[str, datetime]


async def queue_depth(conn: AsyncConnection, now: datetime) -> QueueDepth:
    counted = await conn.execute(
        select(tasks.c.kind, tasks.c.status, func.count())
        .where(tasks.c.status.in_(ACTIVE_STATUSES))
        .group_by(tasks.c.kind, tasks.c.status)
    )
    oldest = await conn.execute(
        select(tasks.c.kind, func.min(tasks.c.scheduled_at))
        .where(and_(tasks.c.status == TaskStatus.QUEUED.value, tasks.c.scheduled_at <= now))
        .group_by(tasks.c.kind)
    )
    return QueueDepth(
        active={(kind, status): count for kind, status, count in counted},
        oldest_due={kind: due for kind, due in oldest},
    )
