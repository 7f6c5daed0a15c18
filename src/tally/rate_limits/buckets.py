"""The generic cell rate algorithm (GCRA): a token bucket kept as one number per token.

Each token has a theoretical arrival time ``tat``: when its bucket would be full again.
A request at ``now`` is allowed when ``tat - now`` is within the burst's tolerance, and
then moves ``tat`` one interval (``1 / rate``) on; otherwise it is refused, and may come
back when ``tat - now`` is within the tolerance again. No timer, no refill loop.

On PostgreSQL the times live in an UNLOGGED table and use the database's clock, so that
every API process on every machine shares one bucket per token; on SQLite (one process)
they live in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from tally.rate_limits import queries


@dataclass(frozen=True)
class Rate:
    """``per_second`` requests a second, ``burst`` of them at once."""

    per_second: float
    burst: int

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    @property
    def tolerance(self) -> float:
        """How far ahead of now ``tat`` may be for a request to pass."""
        return (self.burst - 1) * self.interval


@dataclass
class MemoryBuckets:
    """One process's buckets (the embedded default)."""

    rate: Rate
    clock: Callable[[], float] = time.monotonic
    arrivals: dict[int, float] = field(default_factory=dict)

    async def take(self, engine: AsyncEngine, token_id: int) -> float:
        """0 if the request may pass (and it is counted), else the seconds to wait."""
        now = self.clock()
        tat = max(self.arrivals.get(token_id, now), now)
        if tat - now > self.rate.tolerance:
            return tat - now - self.rate.tolerance
        self.arrivals[token_id] = tat + self.rate.interval
        return 0.0


@dataclass
class SharedBuckets:
    """The buckets of every API process on one PostgreSQL database."""

    rate: Rate

    async def take(self, engine: AsyncEngine, token_id: int) -> float:
        async with engine.begin() as conn:
            wait = await conn.scalar(
                queries.TAKE, {"token_id": token_id, "interval": self.rate.interval, "tolerance": self.rate.tolerance}
            )
        return float(wait or 0.0)
