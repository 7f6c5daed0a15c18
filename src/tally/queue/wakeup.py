"""Waking workers when a task is queued: LISTEN/NOTIFY on PostgreSQL, polling always.

A task insert sends ``NOTIFY tally_tasks`` in its own transaction, so the notification is
delivered when (and only if) the task is committed. Each worker process keeps one
listening connection (store/notifications.py) and sets its wake-up event on every
notification, and when it starts listening again after a drop. Meanwhile the worker still
polls every ``TALLY_POLL_INTERVAL``, so a lost notification delays a task by one poll at
most and never loses it.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.store import notifications
from tally.store.engine import is_sqlite

CHANNEL = "tally_tasks"


async def notify_task_queued(conn: AsyncConnection) -> None:
    """Tell listening workers, at commit, that a task was queued (PostgreSQL only)."""
    if not is_sqlite(conn):
        await conn.execute(text(f"NOTIFY {CHANNEL}"))


async def listen(database_url: str, wakeup: asyncio.Event, stop: asyncio.Event) -> None:
    """Set ``wakeup`` on every notification until ``stop``; reconnect whenever it drops."""

    def listening(now: bool) -> None:
        if now:
            wakeup.set()  # anything queued while we were not listening

    await notifications.listen(
        database_url,
        CHANNEL,
        stop,
        heard=lambda _payload: wakeup.set(),
        listening=listening,
        name="tally task wake-ups",
    )
