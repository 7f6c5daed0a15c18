"""queue/worker.py: running claimed tasks, recording outcomes, leases lost and kept."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.config import Settings
from tally.counters import refresh
from tally.queue import queries
from tally.queue.execution import Execution, Finish, Runner, TaskFailed
from tally.queue.registry import MaintenancePass
from tally.queue.worker import Worker, worker_name
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import accounts, counter_sets
from tally.store.types import utcnow
from tests.queue.support import (
    LEASE,
    T0,
    FakeClock,
    add_catalog,
    claim,
    insert_task,
    registry_for,
    task_count,
    task_row,
)


def _returning(result: Any) -> Finish:
    async def finish(conn: AsyncConnection, now: datetime) -> Any:
        return result

    return finish


async def _instant(execution: Execution) -> Finish:
    return _returning(["done"])


class Gate:
    """A runner that waits, once per attempt, until the test lets it through."""

    def __init__(self, result: Callable[[Execution], Any] = lambda execution: ["done"]) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.cancelled = False
        self.result = result

    async def run(self, execution: Execution) -> Finish:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return _returning(self.result(execution))


def _worker(
    engine: AsyncEngine, settings: Settings, runner: Runner, clock: Callable[[], datetime] = utcnow, name: str = "w"
) -> Worker:
    return Worker(engine, settings, registry_for({"test": runner}), clock=clock, name=name)


async def test_worker_run_once_empty_queue_returns_false(engine: AsyncEngine, settings: Settings) -> None:
    assert await _worker(engine, settings, _instant).run_once() is False


async def test_worker_run_once_refresh_task_completes(engine: AsyncEngine, settings: Settings, account_id: int) -> None:
    database_id, resource_id = await add_catalog(engine, account_id, 200)
    async with write_transaction(engine) as conn:
        task_id = await refresh.refresh_start(conn, account_id, database_id, resource_id)
    clock = FakeClock(utcnow())
    worker = Worker(engine, settings, registry_for({refresh.KIND: refresh.run_refresh}), clock=clock)
    assert await worker.run_once() is True
    row = await task_row(engine, task_id)
    assert (row.status, row.progress, row.attempts, row.error_text) == ("completed", 100, 1, "")
    assert (row.started_at, row.finished_at, row.lease_owner) == (clock.now, clock.now, None)
    [element] = row.result
    assert (element["resource_id"], element["total_count"]) == (resource_id, 200)
    assert [channel["channel"] for channel in element["channels"]] == ["email", "push", "sms"]
    async with read_transaction(engine) as conn:
        stored = (await conn.execute(select(counter_sets))).one()
    assert (stored.database_id, stored.resource_id, stored.task_id) == (database_id, resource_id, task_id)
    assert stored.channels == element["channels"]


async def test_worker_task_failed_ends_as_error_with_text(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    async def runner(execution: Execution) -> Finish:
        await execution.report_progress(30)
        raise TaskFailed("Database not found: 5")

    task_id = await insert_task(engine, account_id)
    clock = FakeClock()
    assert await _worker(engine, settings, runner, clock).run_once()
    row = await task_row(engine, task_id)
    assert (row.status, row.error_text, row.progress, row.result) == ("error", "Database not found: 5", 30, None)
    assert (row.finished_at, row.lease_owner, row.attempts) == (T0, None, 1)


async def test_worker_unexpected_exception_ends_as_error_without_internals(
    engine: AsyncEngine, settings: Settings, account_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    async def runner(execution: Execution) -> Finish:
        raise RuntimeError("password=hunter2 in /srv/tally/secret.py")

    task_id = await insert_task(engine, account_id)
    with caplog.at_level(logging.ERROR, logger="tally.worker"):
        assert await _worker(engine, settings, runner, FakeClock()).run_once()
    row = await task_row(engine, task_id)
    assert row.status == "error"
    assert row.error_text == "Internal error while running the task (RuntimeError)"
    assert "hunter2" not in row.error_text
    assert any("hunter2" in str(record.exc_info[1]) for record in caplog.records if record.exc_info)


async def test_worker_unknown_kind_ends_as_error(engine: AsyncEngine, settings: Settings, account_id: int) -> None:
    task_id = await insert_task(engine, account_id, kind="no_such_kind")
    assert await _worker(engine, settings, _instant, FakeClock()).run_once()
    row = await task_row(engine, task_id)
    assert (row.status, row.error_text) == ("error", "Unknown task kind: no_such_kind")


async def test_worker_failing_finish_ends_as_error_not_processing(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    async def runner(execution: Execution) -> Finish:
        async def finish(conn: AsyncConnection, now: datetime) -> Any:
            await conn.execute(update(accounts).values(name="renamed by a failed finish"))
            raise ValueError("bad counters")

        return finish

    task_id = await insert_task(engine, account_id)
    assert await _worker(engine, settings, runner, FakeClock()).run_once()
    row = await task_row(engine, task_id)
    assert (row.status, row.error_text, row.result) == (
        "error",
        "Internal error while running the task (ValueError)",
        None,
    )
    async with read_transaction(engine) as conn:
        assert await conn.scalar(select(accounts.c.name)) != "renamed by a failed finish"


async def test_worker_progress_stays_below_100_until_completed(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    seen: list[int] = []

    async def runner(execution: Execution) -> Finish:
        for percent in (-5, 40, 150):
            await execution.report_progress(percent)
            seen.append((await task_row(engine, execution.task.id)).progress)
        return _returning([])

    task_id = await insert_task(engine, account_id)
    assert await _worker(engine, settings, runner, FakeClock()).run_once()
    assert seen == [0, 40, 99]
    assert (await task_row(engine, task_id)).progress == 100


async def test_worker_progress_renews_lease(engine: AsyncEngine, settings: Settings, account_id: int) -> None:
    clock = FakeClock()
    expiries: list[datetime] = []

    async def runner(execution: Execution) -> Finish:
        clock.advance(10)
        await execution.report_progress(50)
        expiries.append((await task_row(engine, execution.task.id)).lease_expires_at)
        return _returning([])

    await insert_task(engine, account_id)
    assert await _worker(engine, settings, runner, clock).run_once()
    assert expiries == [T0 + timedelta(seconds=10 + settings.lease_seconds)]


async def test_worker_run_once_reaps_task_of_dead_worker(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "dead") is not None
    clock = FakeClock(T0 + LEASE + timedelta(seconds=1))
    assert await _worker(engine, settings, _instant, clock).run_once()
    row = await task_row(engine, task_id)
    assert (row.status, row.attempts, row.result) == ("completed", 2, ["done"])
    assert await task_count(engine) == 1


async def test_worker_lost_lease_does_not_overwrite_result(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    clock = FakeClock()
    slow = Gate(result=lambda execution: ["from A"])

    async def runner_b(execution: Execution) -> Finish:
        return _returning(["from B"])

    async def slow_with_side_effect(execution: Execution) -> Finish:
        await slow.run(execution)

        async def finish(conn: AsyncConnection, now: datetime) -> Any:
            await conn.execute(update(accounts).values(name="written by A"))
            return ["from A"]

        return finish

    task_id = await insert_task(engine, account_id)
    worker_a = _worker(engine, settings, slow_with_side_effect, clock, name="A")
    worker_b = _worker(engine, settings, runner_b, clock, name="B")
    claimed = await worker_a.claim()
    assert claimed is not None
    running_a = asyncio.create_task(worker_a.execute(claimed))
    await asyncio.wait_for(slow.started.wait(), 5)
    clock.advance(settings.lease_seconds + 1)  # A stopped renewing, as far as the queue can tell
    assert await worker_b.run_once()  # B reaps the task, claims it and completes it
    slow.release.set()
    await asyncio.wait_for(running_a, 5)
    row = await task_row(engine, task_id)
    assert (row.status, row.result, row.attempts, row.finished_at) == ("completed", ["from B"], 2, clock.now)
    async with read_transaction(engine) as conn:
        assert await conn.scalar(select(accounts.c.name)) != "written by A"


async def test_worker_lost_lease_heartbeat_cancels_run(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    gate = Gate()
    worker = _worker(engine, settings.with_(lease_seconds=0.3), gate.run, name="A")
    task_id = await insert_task(engine, account_id, now=utcnow())
    claimed = await worker.claim()
    assert claimed is not None
    running = asyncio.create_task(worker.execute(claimed))
    await asyncio.wait_for(gate.started.wait(), 5)
    later = utcnow() + timedelta(hours=1)
    async with write_transaction(engine) as conn:
        await queries.task_reap_expired(conn, now=later, max_attempts=3)
    assert await claim(engine, "B", now=later) is not None
    await asyncio.wait_for(running, 5)  # the next renewal finds the lease gone and stops the run
    row = await task_row(engine, task_id)
    assert gate.cancelled
    assert (row.status, row.lease_owner, row.attempts) == ("processing", "B", 2)


async def test_worker_reclaim_by_same_worker_discards_stale_run(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    clock = FakeClock()
    gates = {1: Gate(lambda execution: ["attempt 1"]), 2: Gate(lambda execution: ["attempt 2"])}

    async def runner(execution: Execution) -> Finish:
        return await gates[execution.task.attempts].run(execution)

    worker = Worker(engine, settings.with_(worker_concurrency=2), registry_for({"test": runner}), clock=clock, name="W")
    task_id = await insert_task(engine, account_id)
    first = await worker.claim()
    assert first is not None
    stale = asyncio.create_task(worker.execute(first))
    await asyncio.wait_for(gates[1].started.wait(), 5)
    clock.advance(settings.lease_seconds + 1)
    await worker.maintenance.round()
    second = await worker.claim()
    assert second is not None and second.id == task_id
    gates[1].release.set()
    await asyncio.wait_for(stale, 5)
    row = await task_row(engine, task_id)
    assert (row.status, row.result, row.lease_owner) == ("processing", None, second.lease_owner)
    gates[2].release.set()
    await worker.execute(second)
    assert (await task_row(engine, task_id)).result == ["attempt 2"]


async def test_worker_run_stop_lets_running_task_finish(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    gate = Gate()
    task_id = await insert_task(engine, account_id, now=utcnow())
    stop = asyncio.Event()
    running = asyncio.create_task(_worker(engine, settings, gate.run).run(stop))
    await asyncio.wait_for(gate.started.wait(), 5)
    stop.set()
    await asyncio.sleep(0.2)
    assert not running.done()
    gate.release.set()
    await asyncio.wait_for(running, 5)
    row = await task_row(engine, task_id)
    assert (row.status, row.result) == ("completed", ["done"])


async def test_worker_run_stop_idle_returns_promptly(engine: AsyncEngine, settings: Settings) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(_worker(engine, settings.with_(poll_interval=30), _instant).run(stop))
    await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(running, 2)
    assert running.exception() is None


async def test_worker_run_finished_task_frees_slot_without_poll_wait(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    task_ids = [await insert_task(engine, account_id, now=utcnow()) for _ in range(3)]
    stop = asyncio.Event()
    running = asyncio.create_task(_worker(engine, settings.with_(poll_interval=30), _instant).run(stop))
    try:
        for task_id in task_ids:
            await _wait_status(engine, task_id, "completed", within=3)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
    assert [(await task_row(engine, task_id)).status for task_id in task_ids] == ["completed"] * 3


async def test_worker_run_wakeup_claims_new_task_at_once(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    wakeup = asyncio.Event()
    worker = Worker(engine, settings.with_(poll_interval=30), registry_for({"test": _instant}), wakeup=wakeup)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(0.2)  # the worker has looked, found nothing, and sleeps
        task_id = await insert_task(engine, account_id, now=utcnow())
        wakeup.set()
        await _wait_status(engine, task_id, "completed", within=3)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)
    assert (await task_row(engine, task_id)).result == ["done"]


async def test_worker_run_concurrency_runs_tasks_side_by_side(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    release = asyncio.Event()
    started: list[str] = []

    async def runner(execution: Execution) -> Finish:
        started.append(execution.task.id)
        await release.wait()
        return _returning([])

    task_ids = {await insert_task(engine, account_id, now=utcnow()) for _ in range(2)}
    stop = asyncio.Event()
    running = asyncio.create_task(_worker(engine, settings.with_(worker_concurrency=2), runner).run(stop))
    try:
        for _ in range(100):
            if len(started) == 2:
                break
            await asyncio.sleep(0.02)
        assert set(started) == task_ids
    finally:
        release.set()
        stop.set()
        await asyncio.wait_for(running, 5)
    assert {(await task_row(engine, task_id)).status for task_id in task_ids} == {"completed"}


async def test_worker_name_long_hostname_still_claims(
    engine: AsyncEngine, settings: Settings, account_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("socket.gethostname", lambda: "h" * 253)
    task_id = await insert_task(engine, account_id)
    worker = Worker(engine, settings, registry_for({"test": _instant}), clock=FakeClock())
    assert len(worker_name()) <= 80
    assert await worker.run_once()
    assert (await task_row(engine, task_id)).status == "completed"


async def _wait_status(engine: AsyncEngine, task_id: str, status: str, within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while (await task_row(engine, task_id)).status != status:
        assert asyncio.get_running_loop().time() < deadline, f"task {task_id} not {status} after {within}s"
        await asyncio.sleep(0.02)


async def test_worker_database_error_that_is_no_disconnect_ends_as_error(
    engine: AsyncEngine, settings: Settings, account_id: int, backend: str
) -> None:
    # A statement timeout, a full disk or a lock is an OperationalError too, but no lost
    # connection: putting the task back (and taking back its attempt) looped for ever.
    async def runner(execution: Execution) -> Finish:
        async with write_transaction(execution.engine) as conn:
            if backend == "postgres":
                await conn.execute(text("SET LOCAL statement_timeout = 1"))
                await conn.execute(text("SELECT pg_sleep(1)"))
            else:
                await conn.execute(text("SELECT * FROM no_such_table"))
        return _returning(["never"])

    task_id = await insert_task(engine, account_id)
    assert await _worker(engine, settings, runner, FakeClock()).run_once()
    row = await task_row(engine, task_id)
    assert (row.status, row.attempts) == ("error", 1)
    assert row.error_text == "Internal error while running the task (OperationalError)"
    assert await _worker(engine, settings, runner, FakeClock()).run_once() is False


async def test_worker_lost_connection_puts_task_back_until_attempts_run_out(
    engine: AsyncEngine, settings: Settings, account_id: int, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("a backend that terminates its own connection is a PostgreSQL test")

    async def runner(execution: Execution) -> Finish:
        async with write_transaction(execution.engine) as conn:
            await conn.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return _returning(["never"])

    task_id = await insert_task(engine, account_id)
    worker = _worker(engine, settings.with_(max_attempts=2), runner, FakeClock())
    assert await worker.run_once()
    row = await task_row(engine, task_id)
    assert (row.status, row.attempts, row.lease_owner) == ("queued", 1, None)
    assert await worker.run_once()
    row = await task_row(engine, task_id)
    assert (row.status, row.attempts) == ("error", 2)
    assert row.error_text.startswith("Task interrupted 2 times: database connection lost")


async def test_worker_failing_maintenance_pass_does_not_stop_claims(
    engine: AsyncEngine, settings: Settings, account_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    failed = asyncio.Event()

    async def broken(conn: AsyncConnection, now: datetime, settings: Settings) -> None:
        failed.set()
        raise OverflowError("date value out of range")

    registry = replace(registry_for({"test": _instant}), maintenance=[MaintenancePass("broken", broken)])
    worker = Worker(engine, settings, registry)
    stop = asyncio.Event()
    with caplog.at_level(logging.ERROR, logger="tally.worker"):
        running = asyncio.create_task(worker.run(stop))
        await asyncio.wait_for(failed.wait(), 10)
        task_id = await insert_task(engine, account_id, now=utcnow())  # queued after the failure
        for _ in range(400):
            if (await task_row(engine, task_id)).status == "completed":
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(running, 10)
    assert (await task_row(engine, task_id)).status == "completed"
    assert any("maintenance pass 'broken' failed" in record.getMessage() for record in caplog.records)


async def test_recording_an_outcome_claims_the_next_task_in_the_same_transaction(
    engine: AsyncEngine, settings: Settings, account_id: int
) -> None:
    first, second = [await insert_task(engine, account_id, now=T0 + timedelta(seconds=n)) for n in range(2)]
    worker = _worker(engine, settings, _instant)
    claimed = await worker.claim()
    assert claimed is not None and claimed.id == first

    after_first = await worker.execute(claimed, claim_next=True)
    assert after_first is not None and after_first.task is not None
    assert after_first.task.id == second
    row = await task_row(engine, second)
    assert (row.status, row.lease_owner) == ("processing", after_first.task.lease_owner)
    assert (await task_row(engine, first)).status == "completed"

    after_second = await worker.execute(after_first.task, claim_next=True)
    assert after_second is not None and after_second.task is None  # nothing left: it says so
    assert (await task_row(engine, second)).status == "completed"
    assert await worker.execute(after_first.task) is None  # without claim_next it does not look


async def test_the_worker_runs_a_backlog_with_one_claim_and_looks_no_more_once_it_is_empty(
    engine: AsyncEngine, settings: Settings, account_id: int, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """Each task after the first is claimed by the transaction that completed the one before,
    and when that claim finds nothing, the worker waits for a wake-up instead of claiming
    again (an empty claim is a write transaction, and on SQLite it holds the writers off)."""
    ids = [await insert_task(engine, account_id, now=T0 + timedelta(seconds=n)) for n in range(5)]
    worker = _worker(engine, replace(settings, poll_interval=3600), _instant)
    claims = 0
    original_claim = worker.claim

    async def counted_claim() -> queries.Task | None:
        nonlocal claims
        claims += 1
        return await original_claim()

    monkeypatch.setattr(worker, "claim", counted_claim)
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))

    async def statuses() -> list[str]:
        return [(await task_row(engine, task_id)).status for task_id in ids]

    for _ in range(200):
        if await statuses() == ["completed"] * 5:
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)  # time for any further claim to happen
    stop.set()
    await running
    assert await statuses() == ["completed"] * 5
    # On PostgreSQL the listener's first connection wakes the worker once more (for what was
    # queued before it listened): one more claim, whenever it comes.
    assert claims == 1 if backend == "sqlite" else claims in (1, 2)
