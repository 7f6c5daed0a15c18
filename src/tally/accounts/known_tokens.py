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
import hashlib
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import REVOCATIONS
from tally.store import notifications
from tally.wire.auth import Authenticate, Principal

REMEMBER_SECONDS = 30.0
#: Tokens remembered at once; past it the oldest go (a process serves few tokens).
MAX_REMEMBERED = 10_000
#: The listening connection's name in pg_stat_activity.
LISTENER = "tally token revocations"


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

    def set_listening(self, now: bool) -> None:
        self.forget_all()
        self.listening = now

    async def listen(self, database_url: str, stop: asyncio.Event) -> None:
        """Remember tokens while LISTENing on ``tally_tokens`` (PostgreSQL), until ``stop``."""
        await notifications.listen(
            database_url,
            REVOCATIONS,
            stop,
            heard=lambda _payload: self.forget_all(),
            listening=self.set_listening,
            name=LISTENER,
        )
