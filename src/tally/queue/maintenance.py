"""Upkeep every worker runs apart from claiming: the reaper, the purge, and registered passes.

Each pass runs in its own write transaction with its own error handling: a pass that fails
is logged and tried again at the next round, and never stops the others or the claims.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.config import Settings
from tally.queue import queries
from tally.queue.errors import log_failed_step
from tally.queue.execution import Clock
from tally.queue.registry import MaintenancePass, Registry
from tally.store.engine import write_transaction

log = logging.getLogger("tally.worker")


class Maintenance:
    def __init__(self, engine: AsyncEngine, settings: Settings, registry: Registry, clock: Clock) -> None:
        self.engine = engine
        self.settings = settings
        self.registry = registry
        self.clock = clock
        self.passes: Sequence[MaintenancePass] = (
            MaintenancePass("reaper", self._reap),
            MaintenancePass("purge", _purge),
            *registry.maintenance,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """A round every third of a lease (so that reaping stays prompt) until ``stop``."""
        interval = self.settings.lease_seconds / 3
        while not stop.is_set():
            await self.round()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def round(self) -> None:
        """Every pass once, each on its own: a failing pass is logged, the next one still runs."""
        for maintenance_pass in self.passes:
            try:
                async with write_transaction(self.engine) as conn:
                    await maintenance_pass.run(conn, self.clock(), self.settings)
            except Exception as exc:
                message = "maintenance pass %r failed; it runs again at the next round"
                log_failed_step(log, exc, message, maintenance_pass.name)

    async def _reap(self, conn: AsyncConnection, now: datetime, settings: Settings) -> None:
        """Put back tasks whose lease expired; end those out of attempts (and run end hooks)."""
        reaped = await queries.task_reap_expired(conn, now=now, max_attempts=settings.max_attempts)
        for task in reaped.abandoned:
            await self.registry.task_ended(conn, task, now)
        if reaped.requeued:
            log.warning("put back %d task(s) whose worker stopped renewing its lease", reaped.requeued)
        if reaped.abandoned:
            log.error("ended %d task(s) as error: their workers kept dying", len(reaped.abandoned))


async def _purge(conn: AsyncConnection, now: datetime, settings: Settings) -> None:
    """Delete finished tasks past TALLY_TASK_RETENTION_DAYS."""
    purged = await queries.task_purge_finished(conn, before=now - timedelta(days=settings.task_retention_days))
    if purged:
        log.info("purged %d finished task(s) older than %g days", purged, settings.task_retention_days)
