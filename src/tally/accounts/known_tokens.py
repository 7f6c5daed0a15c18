"""Valid tokens remembered by an API process, so that a call costs one transaction, not two.

A call's token was looked up in its own transaction before its method ran: on PostgreSQL
about 1 ms of the API process's CPU, a third of a tasks/status. A token seen valid is now
remembered (by its hash) for up to 30 s, but only while this process LISTENs on
``tally_tokens``: a revocation notifies that channel in its own transaction (service.py),
and every remembered token is forgotten when it arrives, so a revoked token is refused
within the notification's delay (milliseconds), as before within the next call. While the
listening connection is down nothing is remembered; a lookup that a revocation overtook is
not remembered either (``generation``). SQLite has no NOTIFY, and its other processes
(``tally token revoke``) could not reach this one: there every call looks the token up.

The 30 s also bound how stale a token's ``last_used_at`` gets: only a lookup writes it (at
most once a minute), so it lags real use by 90 s at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import REVOCATIONS
from tally.queue.wakeup import libpq_dsn
from tally.wire.auth import Authenticate, Principal

REMEMBER_SECONDS = 30.0
#: Tokens remembered at once; past it the oldest go (a process serves few tokens).
MAX_REMEMBERED = 10_000
LISTEN_CHECK_SECONDS = 1.0
#: The listening connection's name in pg_stat_activity.
LISTENER = "tally token revocations"
MAX_RECONNECT_PAUSE = 30.0

log = logging.getLogger("tally.api")


class KnownTokens:
    def __init__(self, look_up: Authenticate, clock: Callable[[], float] = time.monotonic) -> None:
        self.look_up = look_up
        self.clock = clock
        #: SHA-256 of a token -> (its principal, when to look it up again).
        self.remembered: dict[bytes, tuple[Principal, float]] = {}
        #: Whether a revocation would reach us now; nothing is remembered otherwise.
        self.listening = False
        #: Moves on at every revocation and every change of ``listening``.
        self.generation = 0

    async def authenticate(self, engine: AsyncEngine, token: str) -> Principal:
        key = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        known = self.remembered.get(key)
        if known is not None and self.listening and known[1] > self.clock():
            return known[0]
        generation = self.generation
        principal = await self.look_up(engine, token)
        if self.listening and generation == self.generation:
            if len(self.remembered) >= MAX_REMEMBERED:
                del self.remembered[next(iter(self.remembered))]
            self.remembered[key] = (principal, self.clock() + REMEMBER_SECONDS)
        return principal

    def forget_all(self) -> None:
        self.remembered.clear()
        self.generation += 1

    async def listen(self, database_url: str, stop: asyncio.Event) -> None:
        """Remember tokens while LISTENing on ``tally_tokens`` (PostgreSQL), until ``stop``."""
        pause = 0.5
        while not stop.is_set():
            try:
                dsn = libpq_dsn(database_url)
                async with await psycopg.AsyncConnection.connect(
                    dsn, autocommit=True, application_name=LISTENER
                ) as conn:
                    await conn.execute(f"LISTEN {REVOCATIONS}")
                    self.forget_all()
                    self.listening = True
                    pause = 0.5
                    while not stop.is_set():
                        async for _ in conn.notifies(timeout=LISTEN_CHECK_SECONDS):
                            self.forget_all()
                        await conn.execute("SELECT 1")  # a dead connection shows here
            except (psycopg.Error, OSError) as exc:
                log.warning("token revocations unheard (%s); looking every token up, retrying in %.1fs", exc, pause)
            finally:
                self.listening = False
                self.forget_all()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=pause)
            pause = min(pause * 2, MAX_RECONNECT_PAUSE)
