"""The worker: claims due tasks, runs them under a renewed lease, and records the outcome.

The same code runs inside ``tally serve`` (embedded, one process with the API) and as
``tally worker`` processes. Beside the claims, the worker runs the maintenance passes
(maintenance.py) on their own schedule, so that a failing pass never stops claiming.

A run's outcome becomes the task's next state in one place, ``_record``:

=================  ==========================================================
Completed          completed, with what the run's Finish returns
Failed             error, with its text
Retry              queued again, due after the delay (RetryLater)
Interrupted        queued again with the attempt counted (database connection
                   lost); error once TALLY_MAX_ATTEMPTS attempts are used up
lease lost         nothing: another worker may own the task now
=================  ==========================================================
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
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.config import Settings
from tally.logs import TASK_ID
from tally.queue import queries
from tally.queue.errors import LeaseLost, log_failed_step
from tally.queue.execution import Clock, Execution, Finish, RetryLater, TaskFailed
from tally.queue.maintenance import Maintenance
from tally.queue.metrics import TASK_SECONDS
from tally.queue.queries import Task
from tally.queue.registry import Registry
from tally.queue.wakeup import listen
from tally.store.engine import is_database_unreachable, is_sqlite, write_transaction
from tally.store.types import utcnow

log = logging.getLogger("tally.worker")


@dataclass(frozen=True)
class Completed:
    finish: Finish


@dataclass(frozen=True)
class Failed:
    error_text: str


@dataclass(frozen=True)
class Retry:
    delay: float
    finish: Finish


@dataclass(frozen=True)
class Interrupted:
    reason: str


Outcome = Completed | Failed | Retry | Interrupted


@dataclass(frozen=True)
class Claimed:
    """What a claim made with a recorded outcome found: the next task, or None (none due)."""

    task: Task | None


def worker_name() -> str:
    # tasks.lease_owner holds 100 characters: a long FQDN must not make every claim fail.
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        registry: Registry,
        *,
        wakeup: asyncio.Event | None = None,
        clock: Clock = utcnow,
        name: str | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.registry = registry
        self.wakeup = wakeup or asyncio.Event()
        self.clock = clock
        self.name = name or worker_name()
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.maintenance = Maintenance(engine, settings, registry, clock)
        self._running: dict[asyncio.Task[bool], Task] = {}
        self._claims = itertools.count(1)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and run tasks until ``stop`` is set, then let running ones finish."""
        log.info("worker %s started (concurrency %d)", self.name, self.settings.worker_concurrency)
        maintenance = asyncio.create_task(self.maintenance.run(stop), name="tally-maintenance")
        listener = None
        if not is_sqlite(self.engine):
            listener = asyncio.create_task(listen(self.settings.database_url, self.wakeup, stop), name="tally-listener")
        try:
            while not stop.is_set():
                # Cleared before the pass, not after: a task queued while we look is not missed.
                self.wakeup.clear()
                try:
                    await self._claim_free_slots(stop)
                except Exception as exc:
                    log_failed_step(log, exc, "worker %s: claiming failed; retrying", self.name)
                await self._sleep(stop)
            await self._drain()
        finally:
            if listener is not None:
                listener.cancel()  # it would otherwise notice `stop` only at its next check
            if stop.is_set():
                # Maintenance ends by itself after its current round (within the grace):
                # cancelled mid-statement, a SQLite driver thread could still be finishing
                # the statement when the event loop closes.
                await asyncio.wait([maintenance], timeout=self.settings.shutdown_grace)
            maintenance.cancel()
            await asyncio.gather(maintenance, *([listener] if listener else []), return_exceptions=True)
        log.info("worker %s stopped", self.name)

    async def _claim_free_slots(self, stop: asyncio.Event) -> None:
        while len(self._running) < self.settings.worker_concurrency:
            task = await self.claim()
            if task is None:
                return
            running = asyncio.create_task(self._run_slot(task, stop))
            self._running[running] = task
            running.add_done_callback(self._execution_done)

    async def _run_slot(self, task: Task, stop: asyncio.Event) -> bool:
        """Run ``task``, then each task claimed in the transaction that recorded the one
        before; True when the last such claim found nothing due."""
        slot = asyncio.current_task()
        assert slot is not None
        current: Task | None = task
        while current is not None:
            self._running[slot] = current  # what _drain puts back if this slot is stopped
            claimed = await self.execute(current, claim_next=not stop.is_set())
            if claimed is None:
                return False
            current = claimed.task
        return True

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
            try:
                async with write_transaction(self.engine) as conn:
                    await queries.task_release(conn, task_id=task.id, owner=_owner(task))
            except Exception as exc:
                log.warning("worker %s could not put task %s back (%s); its lease will expire", self.name, task.id, exc)
            else:
                log.warning("worker %s put task %s back in the queue unfinished", self.name, task.id)

    def _execution_done(self, running: asyncio.Task[bool]) -> None:
        self._running.pop(running, None)
        if running.cancelled():
            return
        if (error := running.exception()) is not None:
            log.error("worker %s: a task execution crashed", self.name, exc_info=error)
        elif running.result():
            return  # the slot's last claim found nothing due; a new task wakes us itself
        # A free slot: look at the queue now rather than after the poll interval.
        self.wakeup.set()

    async def _sleep(self, stop: asyncio.Event) -> None:
        waits = [asyncio.ensure_future(self.wakeup.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waits, timeout=self.settings.poll_interval, return_when=asyncio.FIRST_COMPLETED)
        for wait in waits:
            wait.cancel()

    async def run_once(self) -> bool:
        """One pass: maintenance, then claim one task and run it to its end. For tests."""
        await self.maintenance.round()
        task = await self.claim()
        if task is None:
            return False
        await self.execute(task)
        return True

    async def claim(self) -> Task | None:
        async with write_transaction(self.engine) as conn:
            task = await self._claim_in(conn)
        _log_claim(task)
        return task

    async def _claim_in(self, conn: AsyncConnection) -> Task | None:
        # The lease belongs to this claim, not merely to this worker: if the task is reaped
        # and this same worker claims it again, the first execution has still lost it.
        owner = f"{self.name}#{next(self._claims)}"
        return await queries.task_claim(conn, owner=owner, now=self.clock(), lease=self.lease)

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

    async def execute(self, task: Task, *, claim_next: bool = False) -> Claimed | None:
        """Run one claimed task and record its outcome.

        With ``claim_next``, the transaction that records the outcome also claims the next
        due task (one commit fewer per task of a backlog) and returns what it found; None
        when it did not look (no ``claim_next``, or the outcome was not recorded).
        Every log line written meanwhile names the task (tally/logs.py).
        """
        named = TASK_ID.set(task.id)
        try:
            return await self._execute(task, claim_next=claim_next)
        finally:
            TASK_ID.reset(named)

    async def _execute(self, task: Task, *, claim_next: bool) -> Claimed | None:
        outcome: Outcome | None
        started = time.monotonic()
        try:
            outcome = Completed(await self._run_under_lease(task))
        except Exception as exc:
            outcome = self._outcome_of_error(task, exc)
        if outcome is None:
            return None
        try:
            return await self._record(task, outcome, claim_next=claim_next, started=started)
        except Exception as exc:
            # Writing the outcome failed (the Finish raised, the database broke): record
            # what that means instead; if even that fails, the lease expires and the
            # reaper puts the task back.
            fallback = self._outcome_of_error(task, exc)
            if fallback is None:
                return None
            try:
                return await self._record(task, fallback, claim_next=claim_next, started=started)
            except Exception:
                log.exception("could not record the outcome of task %s; its lease will expire", task.id)
                return None

    def _outcome_of_error(self, task: Task, exc: Exception) -> Outcome | None:
        """What an exception of a run (or of recording it) means for the task."""
        if isinstance(exc, LeaseLost):
            # Another worker may own it now: whatever this run did is discarded.
            log.warning("lost the lease of task %s; its result, if any, is discarded", task.id)
            return None
        if isinstance(exc, TaskFailed):
            return Failed(str(exc))
        if isinstance(exc, RetryLater):
            return Retry(exc.delay, exc.finish)
        if is_database_unreachable(exc):
            return Interrupted(f"database connection lost ({type(exc).__name__})")
        log.error("task %s failed", task.id, exc_info=exc)
        return Failed(f"Internal error while running the task ({type(exc).__name__})")

    async def _record(self, task: Task, outcome: Outcome, *, claim_next: bool, started: float) -> Claimed | None:
        """The one place where a run's outcome becomes the task's next state; ``started``
        (monotonic) times the run for tally_task_seconds."""
        owner = _owner(task)
        claimed = None
        if isinstance(outcome, Interrupted) and task.attempts >= self.settings.max_attempts:
            outcome = Failed(f"Task interrupted {task.attempts} times: {outcome.reason}")
        async with write_transaction(self.engine) as conn:
            now = self.clock()
            if isinstance(outcome, Completed):
                result = await outcome.finish(conn, now)
                ended = await queries.task_complete(conn, task_id=task.id, owner=owner, now=now, result=result)
                await self.registry.task_ended(conn, ended, now)
            elif isinstance(outcome, Failed):
                ended = await queries.task_fail(
                    conn, task_id=task.id, owner=owner, now=now, error_text=outcome.error_text
                )
                await self.registry.task_ended(conn, ended, now)
            elif isinstance(outcome, Retry):
                await outcome.finish(conn, now)
                run_at = now + timedelta(seconds=outcome.delay)
                await queries.task_retry_later(conn, task_id=task.id, owner=owner, run_at=run_at)
            else:
                await queries.task_requeue(conn, task_id=task.id, owner=owner, now=now)
            if claim_next:
                claimed = Claimed(await self._claim_in(conn))
        _log_outcome(task, outcome)
        TASK_SECONDS.labels(task.kind, _OUTCOME_NAMES[type(outcome)]).observe(time.monotonic() - started)
        if claimed is not None:
            _log_claim(claimed.task)
        return claimed

    async def _run_under_lease(self, task: Task) -> Finish:
        """The task's runner, with its lease renewed meanwhile; LeaseLost if it was taken."""
        work = asyncio.create_task(self._run(task))
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

    async def _run(self, task: Task) -> Finish:
        kind = self.registry.kinds.get(task.kind)
        if kind is None:
            raise TaskFailed(f"Unknown task kind: {task.kind}")

        async def report(percent: int) -> None:
            await self.renew(task, progress=percent)

        return await kind.run(Execution(task, self.engine, self.settings, self.clock, report))

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
            except Exception as exc:
                log_failed_step(log, exc, "could not renew the lease of task %s; will retry", task.id)


#: The ``outcome`` label of tally_task_seconds (a run whose lease was lost records none).
_OUTCOME_NAMES = {Completed: "completed", Failed: "error", Retry: "retry", Interrupted: "interrupted"}


def _log_claim(task: Task | None) -> None:
    if task is not None:
        log.info("claimed %s task %s (attempt %d)", task.kind, task.id, task.attempts, extra={"task_id": task.id})


def _log_outcome(task: Task, outcome: Outcome) -> None:
    if isinstance(outcome, Completed):
        log.info("completed task %s", task.id)
    elif isinstance(outcome, Failed):
        log.info("task %s ended with error: %s", task.id, outcome.error_text)
    elif isinstance(outcome, Retry):
        log.info("task %s will run again in %.1fs", task.id, outcome.delay)
    else:
        log.warning("task %s interrupted: %s; put back in the queue", task.id, outcome.reason)


def _owner(task: Task) -> str:
    """The lease token of a claimed task: every write of its run must name it."""
    if task.lease_owner is None:
        raise LeaseLost(task.id)
    return task.lease_owner
