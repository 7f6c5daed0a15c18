"""Waking workers when a task is queued: LISTEN/NOTIFY on PostgreSQL, polling always.

A task insert sends ``NOTIFY tally_tasks`` in its own transaction, so the notification is
delivered when (and only if) the task is committed. Each worker process keeps one
listening connection and sets its wake-up event on every notification. The connection
may drop (PostgreSQL restarted, a proxy timed out): the listener then reconnects with
growing pauses, and meanwhile the worker still polls every ``TALLY_POLL_INTERVAL``, so a
lost notification delays a task by one poll at most and never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.store.engine import is_sqlite

CHANNEL = "tally_tasks"
MAX_RECONNECT_PAUSE = 30.0
LISTEN_CHECK_SECONDS = 1.0

log = logging.getLogger("tally.worker")


async def notify_task_queued(conn: AsyncConnection) -> None:
    """Tell listening workers, at commit, that a task was queued (PostgreSQL only)."""
    if not is_sqlite(conn):
        await conn.execute(text(f"NOTIFY {CHANNEL}"))


def libpq_dsn(database_url: str) -> str:
    """The SQLAlchemy URL as a plain libpq connection string for psycopg."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def listen(database_url: str, wakeup: asyncio.Event, stop: asyncio.Event) -> None:
    """Set ``wakeup`` on every notification until ``stop``; reconnect whenever it drops."""
    pause = 0.5
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(libpq_dsn(database_url), autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                log.info("listening for new tasks on %s", CHANNEL)
                pause = 0.5
                wakeup.set()  # anything queued while we were not listening
                while not stop.is_set():
                    # A timeout lets the loop look at `stop` and notice a dead connection.
                    async for _ in conn.notifies(timeout=LISTEN_CHECK_SECONDS):
                        wakeup.set()
                    await conn.execute("SELECT 1")
        except (psycopg.Error, OSError) as exc:
            log.warning("task notifications unavailable (%s); polling, retrying in %.1fs", exc, pause)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
            pause = min(pause * 2, MAX_RECONNECT_PAUSE)
