"""The worker: claims due tasks, runs them under a renewed lease, and records the outcome.

The same code runs inside ``tally serve`` (embedded, one process with the API) and as
``tally worker`` processes. Each pass of maintenance puts back tasks whose worker died
(lease expired) and purges finished tasks past their retention.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.config import Settings
from tally.queue import queries
from tally.queue.errors import LeaseLost, RetryLater, TaskFailed
from tally.queue.queries import Task
from tally.queue.wakeup import listen
from tally.store.engine import is_sqlite, write_transaction
from tally.store.types import utcnow

log = logging.getLogger("tally.worker")

Clock = Callable[[], datetime]
#: What a run hands back: called inside the transaction that marks the task completed, it
#: writes what goes with the result (counters, deliveries) and returns the result.
Finish = Callable[[AsyncConnection, datetime], Awaitable[Any]]


class Execution:
    """What the code of a running task may use: its task, the engine, and progress."""

    def __init__(self, worker: Worker, task: Task) -> None:
        self.task = task
        self.engine = worker.engine
        self.settings = worker.settings
        self.clock = worker.clock
        self._worker = worker

    async def report_progress(self, percent: int) -> None:
        """Record progress (0-99) and renew the lease; raises LeaseLost if it was taken."""
        await self._worker.renew(self.task, progress=min(max(percent, 0), 99))


Runner = Callable[[Execution], Awaitable[Finish]]
#: Called in the transaction that ends a task (completed or error), e.g. to queue feedback.
FinishedHook = Callable[[AsyncConnection, str, datetime], Awaitable[object]]


def worker_name() -> str:
    # tasks.lease_owner holds 100 characters: a long FQDN must not make every claim fail.
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        runners: Mapping[str, Runner],
        *,
        wakeup: asyncio.Event | None = None,
        clock: Clock = utcnow,
        name: str | None = None,
        on_finished: FinishedHook | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.runners = runners
        self.wakeup = wakeup or asyncio.Event()
        self.clock = clock
        self.name = name or worker_name()
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.on_finished = on_finished
        self._running: dict[asyncio.Task[None], Task] = {}
        self._claims = itertools.count(1)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run tasks until ``stop`` is set, then let running ones finish."""
        log.info("worker %s started (concurrency %d)", self.name, self.settings.worker_concurrency)
        listener = None
        if not is_sqlite(self.engine):
            listener = asyncio.create_task(listen(self.settings.database_url, self.wakeup, stop))
        next_maintenance = 0.0
        while not stop.is_set():
            # Cleared before the pass, not after: a task queued while we look is not missed.
            self.wakeup.clear()
            try:
                # Not before every claim: a reaper pass is a write, and a backlog of short
                # tasks would pay it each time. A third of a lease keeps reaping prompt.
                if time.monotonic() >= next_maintenance:
                    await self.maintain()
                    next_maintenance = time.monotonic() + self.settings.lease_seconds / 3
                while len(self._running) < self.settings.worker_concurrency:
                    task = await self.claim()
                    if task is None:
                        break
                    running = asyncio.create_task(self.execute(task))
                    self._running[running] = task
                    running.add_done_callback(self._execution_done)
            except Exception:
                log.exception("worker %s: queue pass failed; retrying", self.name)
            await self._sleep(stop)
        await self._drain()
        if listener is not None:
            listener.cancel()  # it would otherwise notice `stop` only at its next check
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        log.info("worker %s stopped", self.name)

    async def _drain(self) -> None:
        """Let running tasks finish within the grace period; put the others back."""
        if not self._running:
            return
        grace = self.settings.shutdown_grace
        log.info("worker %s stopping: waiting up to %gs for %d task(s)", self.name, grace, len(self._running))
        _, unfinished = await asyncio.wait(list(self._running), timeout=grace)
        held = [self._running[running] for running in unfinished]
        for running in unfinished:
            running.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        for task in held:
            async with write_transaction(self.engine) as conn:
                await queries.task_release(conn, task_id=task.id, owner=_owner(task))
            log.warning("worker %s put task %s back in the queue unfinished", self.name, task.id)

    def _execution_done(self, running: asyncio.Task[None]) -> None:
        self._running.pop(running, None)
        # A free slot: look at the queue now rather than after the poll interval.
        self.wakeup.set()
        if not running.cancelled() and (error := running.exception()) is not None:
            log.error("worker %s: a task execution crashed", self.name, exc_info=error)

    async def _sleep(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(self.wakeup.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waits, timeout=self.settings.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()

    async def run_once(self) -> bool:
        """One pass: maintenance, then claim one task and run it to its end. For tests."""
        await self.maintain()
        task = await self.claim()
        if task is None:
            return False
        await self.execute(task)
        return True

    async def maintain(self) -> None:
        now = self.clock()
        async with write_transaction(self.engine) as conn:
            reaped = await queries.task_reap_expired(conn, now=now, max_attempts=self.settings.max_attempts)
            for task_id in reaped.abandoned:
                await self._finished(conn, task_id, now)
            retention = timedelta(days=self.settings.task_retention_days)
            purged = await queries.task_purge_finished(conn, before=now - retention)
        if reaped.requeued:
            log.warning("put back %d task(s) whose worker stopped renewing its lease", reaped.requeued)
        if reaped.abandoned:
            log.error("ended %d task(s) as error: their workers kept dying", len(reaped.abandoned))
        if purged:
            log.info(
                "purged %d finished task(s) older than %s days",
                purged,
                self.settings.task_retention_days,
            )

    async def claim(self) -> Task | None:
        # The lease belongs to this claim, not merely to this worker: if the task is reaped
        # and this same worker claims it again, the first execution has still lost it.
        owner = f"{self.name}#{next(self._claims)}"
        async with write_transaction(self.engine) as conn:
            task = await queries.task_claim(conn, owner=owner, now=self.clock(), lease=self.lease)
        if task is not None:
            log.info("claimed %s task %s (attempt %d)", task.kind, task.id, task.attempts)
        return task

    async def renew(self, task: Task, progress: int | None = None) -> None:
        async with write_transaction(self.engine) as conn:
            await queries.task_renew_lease(
                conn,
                task_id=task.id,
                owner=_owner(task),
                now=self.clock(),
                lease=self.lease,
                progress=progress,
            )

    async def execute(self, task: Task) -> None:
        """Run one claimed task and record its outcome: the one place outcome becomes status."""
        try:
            finish = await self._run_under_lease(task)
            async with write_transaction(self.engine) as conn:
                now = self.clock()
                result = await finish(conn, now)
                await queries.task_complete(conn, task_id=task.id, owner=_owner(task), now=now, result=result)
                await self._finished(conn, task.id, now)
        except LeaseLost:
            # Another worker may own it now: whatever this run did is discarded.
            log.warning("lost the lease of task %s; its result, if any, is discarded", task.id)
        except TaskFailed as failure:
            await self._finish_with_error(task, str(failure))
        except RetryLater as retry:
            await self._retry_later(task, retry)
        except Exception as exc:
            if is_connection_lost(exc):
                await self._give_back(task, exc)
                return
            log.exception("task %s failed", task.id)
            await self._finish_with_error(task, f"Internal error while running the task ({type(exc).__name__})")
        else:
            log.info("completed task %s", task.id)

    async def _run_under_lease(self, task: Task) -> Finish:
        """The task's runner, with its lease renewed meanwhile; LeaseLost if it was taken."""
        work = asyncio.create_task(self._run(self.runners.get(task.kind), task))
        heartbeat = asyncio.create_task(self._heartbeat(task, work))
        try:
            return await work
        except asyncio.CancelledError:
            if not (heartbeat.done() and not heartbeat.cancelled() and heartbeat.result()):
                raise  # this worker itself is being cancelled
            raise LeaseLost(task.id) from None
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _run(self, runner: Runner | None, task: Task) -> Finish:
        if runner is None:
            raise TaskFailed(f"Unknown task kind: {task.kind}")
        return await runner(Execution(self, task))

    async def _heartbeat(self, task: Task, work: asyncio.Task[Finish]) -> bool:
        """Renew the lease while the task runs; cancel the run (and say so) if it is gone."""
        interval = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await self.renew(task)
            except LeaseLost:
                work.cancel()
                return True
            except Exception:
                log.exception("could not renew the lease of task %s; will retry", task.id)

    async def _give_back(self, task: Task, exc: Exception) -> None:
        """The database went away mid-run: put the task back for a later try, not an error.

        If the database is still away, the release fails too and the lease's expiry does the
        same a little later.
        """
        log.warning("task %s interrupted: database connection lost (%s); putting it back", task.id, exc)
        try:
            async with write_transaction(self.engine) as conn:
                await queries.task_release(conn, task_id=task.id, owner=_owner(task))
        except Exception as release_error:
            log.warning("could not put task %s back (%s); its lease will expire", task.id, release_error)

    async def _finished(self, conn: AsyncConnection, task_id: str, now: datetime) -> None:
        if self.on_finished is not None:
            await self.on_finished(conn, task_id, now)

    async def _retry_later(self, task: Task, retry: RetryLater) -> None:
        try:
            async with write_transaction(self.engine) as conn:
                now = self.clock()
                await retry.finish(conn, now)
                run_at = now + timedelta(seconds=retry.delay)
                await queries.task_retry_later(conn, task_id=task.id, owner=_owner(task), run_at=run_at)
        except LeaseLost:
            log.warning("task %s asked for a retry after its lease was lost", task.id)
            return
        log.info("task %s will run again in %.1fs", task.id, retry.delay)

    async def _finish_with_error(self, task: Task, error_text: str) -> None:
        try:
            async with write_transaction(self.engine) as conn:
                now = self.clock()
                await queries.task_fail(conn, task_id=task.id, owner=_owner(task), now=now, error_text=error_text)
                await self._finished(conn, task.id, now)
        except LeaseLost:
            log.warning("task %s failed after its lease was lost", task.id)
            return
        log.info("task %s ended with error: %s", task.id, error_text)


def is_connection_lost(exc: BaseException) -> bool:
    """Whether an error means the database connection broke (restart, killed backend)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError)


def _owner(task: Task) -> str:
    """The lease token of a claimed task: every write of its run must name it."""
    if task.lease_owner is None:
        raise LeaseLost(task.id)
    return task.lease_owner
