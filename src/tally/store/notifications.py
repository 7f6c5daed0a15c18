"""LISTEN on a PostgreSQL channel for as long as a process runs, through any reconnect.

Used for queued tasks (queue/wakeup.py), revoked tokens (accounts/known_tokens.py) and
changed tasks (queue/known_statuses.py). The listening connection is its own, outside the
pool, in autocommit, and named in pg_stat_activity. It may drop (PostgreSQL restarted, a
proxy timed out): it is then opened again with growing pauses, and the caller is told
whenever it starts or stops listening, since a notification sent meanwhile is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import psycopg
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

MAX_RECONNECT_PAUSE = 30.0
#: How often a quiet listener checks ``stop`` and that its connection still answers.
LISTEN_CHECK_SECONDS = 1.0
#: libpq's TCP keepalives: a connection that died without a word (a network cut) fails
#: its check within about 25 s instead of hanging it, listening in name only. (A timeout
#: around the check would not do: psycopg waits for the answer to a cancelled query.)
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}

log = logging.getLogger("tally.store")


def libpq_dsn(database_url: str) -> str:
    """The SQLAlchemy URL as a plain libpq connection string for psycopg."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


async def listen(
    database_url: str,
    channel: str,
    stop: asyncio.Event,
    *,
    heard: Callable[[str], None],
    listening: Callable[[bool], None],
    name: str,
) -> None:
    """Call ``heard`` with the payload of each notification on ``channel`` until ``stop``;
    ``listening(True)`` once LISTEN is in place, ``listening(False)`` whenever the connection
    is gone."""
    pause = 0.5
    while not stop.is_set():
        try:
            dsn = make_conninfo(libpq_dsn(database_url), application_name=name, **KEEPALIVES)
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await conn.execute(f"LISTEN {channel}")
                log.info("listening on %s", channel)
                pause = 0.5
                listening(True)
                while not stop.is_set():
                    # A timeout lets the loop look at `stop` and notice a dead connection.
                    async for notification in conn.notifies(timeout=LISTEN_CHECK_SECONDS):
                        heard(notification.payload)
                    await conn.execute("SELECT 1")
        except (psycopg.Error, OSError) as exc:
            log.warning("notifications on %s unheard (%s); retrying in %.1fs", channel, exc, pause)
        finally:
            listening(False)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=pause)
        pause = min(pause * 2, MAX_RECONNECT_PAUSE)
