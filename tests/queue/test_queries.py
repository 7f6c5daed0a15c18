"""queue/queries.py, one statement at a time, with a fixed clock."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.queue import queries
from tally.queue.errors import LeaseLost
from tally.queue.states import TaskStatus
from tally.store.engine import write_transaction
from tests.queue.support import LEASE, T0, claim, insert_task, task_count, task_row

KEY = "refresh_counters:1:2"


async def _insert(engine: AsyncEngine, account_id: int, dedupe_key: str | None) -> tuple[str, bool]:
    async with write_transaction(engine) as conn:
        return await queries.task_insert(
            conn, account_id=account_id, kind="test", params={"n": 1}, now=T0, dedupe_key=dedupe_key
        )


async def _complete(engine: AsyncEngine, task_id: str, owner: str, result: object = None) -> None:
    async with write_transaction(engine) as conn:
        await queries.task_complete(conn, task_id=task_id, owner=owner, now=T0, result=result)


async def _renew(engine: AsyncEngine, task_id: str, owner: str, progress: int | None = None) -> None:
    async with write_transaction(engine) as conn:
        await queries.task_renew_lease(
            conn, task_id=task_id, owner=owner, now=T0 + timedelta(seconds=1), lease=LEASE, progress=progress
        )


async def _reap(engine: AsyncEngine, seconds_after_t0: float, max_attempts: int = 3) -> int:
    async with write_transaction(engine) as conn:
        reaped = await queries.task_reap_expired(
            conn, now=T0 + timedelta(seconds=seconds_after_t0), max_attempts=max_attempts
        )
    return reaped.requeued + len(reaped.abandoned)


async def test_task_insert_new_key_creates_queued_task(engine: AsyncEngine, account_id: int) -> None:
    task_id, created = await _insert(engine, account_id, KEY)
    row = await task_row(engine, task_id)
    assert created
    assert (row.status, row.progress, row.attempts, row.error_text) == ("queued", 0, 0, "")
    assert (row.created_at, row.scheduled_at, row.started_at, row.finished_at) == (T0, T0, None, None)
    assert (row.params, row.result, row.lease_owner) == ({"n": 1}, None, None)


async def test_task_insert_same_key_while_queued_returns_existing(engine: AsyncEngine, account_id: int) -> None:
    first, _ = await _insert(engine, account_id, KEY)
    second, created = await _insert(engine, account_id, KEY)
    assert (second, created) == (first, False)
    assert await task_count(engine) == 1


async def test_task_insert_same_key_while_processing_returns_existing(engine: AsyncEngine, account_id: int) -> None:
    first, _ = await _insert(engine, account_id, KEY)
    assert await claim(engine, "w1") is not None
    second, created = await _insert(engine, account_id, KEY)
    assert (second, created) == (first, False)
    assert await task_count(engine) == 1


@pytest.mark.parametrize("outcome", ["completed", "error"])
async def test_task_insert_same_key_after_finish_creates_new(
    engine: AsyncEngine, account_id: int, outcome: str
) -> None:
    first, _ = await _insert(engine, account_id, KEY)
    assert await claim(engine, "w1") is not None
    async with write_transaction(engine) as conn:
        if outcome == "completed":
            await queries.task_complete(conn, task_id=first, owner="w1", now=T0, result=[])
        else:
            await queries.task_fail(conn, task_id=first, owner="w1", now=T0, error_text="no")
    second, created = await _insert(engine, account_id, KEY)
    assert created
    assert second != first
    assert (await task_row(engine, second)).status == "queued"


async def test_task_insert_without_key_always_creates(engine: AsyncEngine, account_id: int) -> None:
    first, first_created = await _insert(engine, account_id, None)
    second, second_created = await _insert(engine, account_id, None)
    assert first_created and second_created
    assert first != second


async def test_task_active_for_key_finished_task_is_none(engine: AsyncEngine, account_id: int) -> None:
    task_id, _ = await _insert(engine, account_id, KEY)
    async with write_transaction(engine) as conn:
        assert await queries.task_active_for_key(conn, KEY) == task_id
    assert await claim(engine, "w1") is not None
    await _complete(engine, task_id, "w1")
    async with write_transaction(engine) as conn:
        assert await queries.task_active_for_key(conn, KEY) is None


async def test_task_claim_oldest_due_task_becomes_processing(engine: AsyncEngine, account_id: int) -> None:
    newer = await insert_task(engine, account_id, now=T0 + timedelta(seconds=1))
    older = await insert_task(engine, account_id, now=T0)
    task = await claim(engine, "w1", now=T0 + timedelta(seconds=2))
    assert task is not None
    assert task.id == older
    assert (task.status, task.lease_owner, task.attempts) == (TaskStatus.PROCESSING, "w1", 1)
    assert task.started_at == T0 + timedelta(seconds=2)
    row = await task_row(engine, older)
    assert row.lease_expires_at == T0 + timedelta(seconds=2) + LEASE
    assert (await task_row(engine, newer)).status == "queued"


async def test_task_claim_task_not_yet_due_is_left(engine: AsyncEngine, account_id: int) -> None:
    await insert_task(engine, account_id, now=T0 + timedelta(seconds=10))
    assert await claim(engine, "w1", now=T0) is None


async def test_task_claim_second_claim_gets_nothing(engine: AsyncEngine, account_id: int) -> None:
    await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    assert await claim(engine, "w2") is None


async def test_task_claim_empty_queue_gets_nothing(engine: AsyncEngine, account_id: int) -> None:
    assert await claim(engine, "w1") is None


async def test_task_claim_concurrent_claims_skip_locked_row(engine: AsyncEngine, account_id: int, backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite serialises claims with BEGIN IMMEDIATE; no row locks to skip")
    first = await insert_task(engine, account_id, now=T0)
    second = await insert_task(engine, account_id, now=T0 + timedelta(seconds=1))
    async with write_transaction(engine) as holding:
        held = await queries.task_claim(holding, owner="w1", now=T0 + timedelta(seconds=2), lease=LEASE)
        # w1 has not committed: w2 must skip its locked row, not wait for it.
        other = await asyncio.wait_for(claim(engine, "w2", now=T0 + timedelta(seconds=2)), timeout=5)
    assert held is not None and other is not None
    assert (held.id, other.id) == (first, second)


async def test_task_insert_concurrent_same_key_one_task(engine: AsyncEngine, account_id: int, backend: str) -> None:
    if backend == "sqlite":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE")
    async with write_transaction(engine) as first_conn:
        first, _ = await queries.task_insert(
            first_conn, account_id=account_id, kind="test", params={}, now=T0, dedupe_key=KEY
        )
        # The second insert waits on the uncommitted first one, then finds it.
        second = asyncio.create_task(_insert(engine, account_id, KEY))
        await asyncio.sleep(0.2)
        assert not second.done()
    assert await asyncio.wait_for(second, timeout=5) == (first, False)
    assert await task_count(engine) == 1


async def test_task_insert_meets_tasks_that_finish_at_once_and_still_gets_one(
    engine: AsyncEngine, account_id: int, backend: str
) -> None:
    """Inserts of one key while each active task is claimed and finished as soon as it
    appears (a refresh of maintained counts takes milliseconds): every insert gets an id.
    Without turns per key, an insert could meet a task, miss it finished, and meet the next."""
    if backend == "sqlite":
        pytest.skip("SQLite serialises writers with BEGIN IMMEDIATE")
    stop = asyncio.Event()

    async def finish_everything() -> None:
        while not stop.is_set():
            task = await claim(engine, "fast", now=T0)
            if task is None:
                await asyncio.sleep(0)
                continue
            await _complete(engine, task.id, task.lease_owner or "")

    async def insert_many() -> list[tuple[str, bool]]:
        return [await _insert(engine, account_id, KEY) for _ in range(60)]

    finisher = asyncio.create_task(finish_everything())
    try:
        results = await asyncio.wait_for(asyncio.gather(*(insert_many() for _ in range(6))), timeout=60)
    finally:
        stop.set()
        await finisher
    assert all(task_id for batch in results for task_id, _ in batch)


async def test_task_renew_lease_owner_extends_lease(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    await _renew(engine, task_id, "w1")
    assert (await task_row(engine, task_id)).lease_expires_at == T0 + timedelta(seconds=1) + LEASE


async def test_task_renew_lease_non_owner_raises_lease_lost(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    with pytest.raises(LeaseLost):
        await _renew(engine, task_id, "w2")
    row = await task_row(engine, task_id)
    assert (row.lease_owner, row.lease_expires_at) == ("w1", T0 + LEASE)


async def test_task_renew_lease_queued_task_raises_lease_lost(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    with pytest.raises(LeaseLost):
        await _renew(engine, task_id, "w1")


async def test_task_renew_lease_progress_never_decreases(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    seen = []
    for progress in [10, 40, 25, None, 60]:
        await _renew(engine, task_id, "w1", progress)
        seen.append((await task_row(engine, task_id)).progress)
    assert seen == [10, 40, 40, 40, 60]


async def test_task_complete_holder_sets_completed(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    await _renew(engine, task_id, "w1", 55)
    finished = T0 + timedelta(seconds=3)
    async with write_transaction(engine) as conn:
        await queries.task_complete(conn, task_id=task_id, owner="w1", now=finished, result=[{"total_count": 3}])
    row = await task_row(engine, task_id)
    assert (row.status, row.progress, row.result, row.finished_at) == ("completed", 100, [{"total_count": 3}], finished)
    assert (row.lease_owner, row.lease_expires_at, row.error_text) == (None, None, "")


async def test_task_complete_non_holder_raises_lease_lost(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    with pytest.raises(LeaseLost):
        await _complete(engine, task_id, "w2", result=["stolen"])
    row = await task_row(engine, task_id)
    assert (row.status, row.result, row.lease_owner) == ("processing", None, "w1")


async def test_task_complete_twice_raises_lease_lost(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    await _complete(engine, task_id, "w1", result=["first"])
    with pytest.raises(LeaseLost):
        await _complete(engine, task_id, "w1", result=["second"])
    assert (await task_row(engine, task_id)).result == ["first"]


async def test_task_fail_holder_sets_error_and_keeps_progress(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    await _renew(engine, task_id, "w1", 42)
    async with write_transaction(engine) as conn:
        await queries.task_fail(conn, task_id=task_id, owner="w1", now=T0, error_text="Database not found: 5")
    row = await task_row(engine, task_id)
    assert (row.status, row.progress, row.error_text, row.finished_at) == ("error", 42, "Database not found: 5", T0)
    assert (row.result, row.lease_owner) == (None, None)


async def test_task_fail_non_holder_raises_lease_lost(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    with pytest.raises(LeaseLost):
        async with write_transaction(engine) as conn:
            await queries.task_fail(conn, task_id=task_id, owner="w2", now=T0, error_text="no")
    assert (await task_row(engine, task_id)).status == "processing"


async def test_task_release_holder_requeues_without_spending_attempt(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    async with write_transaction(engine) as conn:
        await queries.task_release(conn, task_id=task_id, owner="w1")
    row = await task_row(engine, task_id)
    assert (row.status, row.attempts, row.lease_owner) == ("queued", 0, None)


async def test_task_reap_expired_requeues_same_row(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    await _renew(engine, task_id, "w1", 30)
    reaped = await _reap(engine, LEASE.total_seconds() + 2)
    row = await task_row(engine, task_id)
    assert reaped == 1
    assert await task_count(engine) == 1
    assert (row.status, row.lease_owner, row.lease_expires_at) == ("queued", None, None)
    assert (row.attempts, row.progress, row.started_at) == (1, 30, T0)
    assert row.scheduled_at == T0 + LEASE + timedelta(seconds=2)


async def test_task_reap_expired_requeued_task_claimed_again(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    await _reap(engine, LEASE.total_seconds() + 1)
    again = await claim(engine, "w2", now=T0 + LEASE + timedelta(seconds=1))
    assert again is not None
    assert (again.id, again.attempts, again.lease_owner, again.started_at) == (task_id, 2, "w2", T0)
    assert await task_count(engine) == 1


async def test_task_reap_expired_live_lease_untouched(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    assert await _reap(engine, LEASE.total_seconds() - 1) == 0
    assert (await task_row(engine, task_id)).status == "processing"


async def test_task_reap_expired_attempts_exhausted_ends_as_error(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    for attempt in range(3):
        start = T0 + timedelta(minutes=attempt)
        claimed = await claim(engine, f"w{attempt}", now=start)
        assert claimed is not None and claimed.attempts == attempt + 1
        if attempt == 0:
            await _renew(engine, task_id, "w0", 20)
        await _reap(engine, (start - T0).total_seconds() + LEASE.total_seconds() + 2, max_attempts=3)
    row = await task_row(engine, task_id)
    assert (row.status, row.attempts, row.progress, row.lease_owner) == ("error", 3, 20, None)
    assert row.error_text == "Task abandoned: its worker stopped responding 3 times"
    assert row.finished_at == T0 + timedelta(minutes=2) + LEASE + timedelta(seconds=2)
    assert await task_count(engine) == 1


async def test_task_reap_expired_finished_tasks_untouched(engine: AsyncEngine, account_id: int) -> None:
    task_id = await insert_task(engine, account_id)
    assert await claim(engine, "w1") is not None
    await _complete(engine, task_id, "w1", result=[])
    assert await _reap(engine, 3600) == 0
    assert (await task_row(engine, task_id)).status == "completed"


async def _finished_task(engine: AsyncEngine, account_id: int, finished: timedelta, *, failed: bool = False) -> str:
    task_id = await insert_task(engine, account_id)
    async with write_transaction(engine) as conn:
        task = await queries.task_claim(conn, owner="w1", now=T0, lease=LEASE)
        assert task is not None and task.id == task_id
        if failed:
            await queries.task_fail(conn, task_id=task_id, owner="w1", now=T0 + finished, error_text="x")
        else:
            await queries.task_complete(conn, task_id=task_id, owner="w1", now=T0 + finished, result=[])
    return task_id


async def test_task_purge_finished_old_deleted_new_and_active_kept(engine: AsyncEngine, account_id: int) -> None:
    await _finished_task(engine, account_id, timedelta(0))
    await _finished_task(engine, account_id, timedelta(0), failed=True)
    recent = await _finished_task(engine, account_id, timedelta(days=2))
    processing = await insert_task(engine, account_id)
    assert await claim(engine, "w2") is not None
    queued = await insert_task(engine, account_id)
    async with write_transaction(engine) as conn:
        purged = await queries.task_purge_finished(conn, before=T0 + timedelta(days=1))
    assert purged == 2
    assert await task_count(engine) == 3
    assert (await task_row(engine, recent)).status == "completed"
    assert (await task_row(engine, processing)).status == "processing"
    assert (await task_row(engine, queued)).status == "queued"


async def test_task_purge_finished_keeps_a_parent_while_its_child_is_active(
    engine: AsyncEngine, account_id: int
) -> None:
    # A finished refresh whose feedback delivery is still retrying: purging the refresh would
    # take its delivery row with it (issue 7, defect 9).
    parent = await _finished_task(engine, account_id, timedelta(0))
    async with write_transaction(engine) as conn:
        child, _ = await queries.task_insert(
            conn, account_id=account_id, kind="child", params={}, now=T0 + timedelta(days=3), parent_id=parent
        )
        assert await queries.task_purge_finished(conn, before=T0 + timedelta(days=1)) == 0
    assert (await task_row(engine, parent)).status == "completed"
    child_task = await claim(engine, "w3", now=T0 + timedelta(days=3))
    assert child_task is not None and child_task.id == child
    async with write_transaction(engine) as conn:
        await queries.task_complete(conn, task_id=child, owner="w3", now=T0 + timedelta(days=3), result=None)
        assert await queries.task_purge_finished(conn, before=T0 + timedelta(days=1)) == 1
    assert await task_count(engine) == 1  # the child itself is recent
