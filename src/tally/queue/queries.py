"""Every statement on the ``tasks`` table, one named function each.

Time is always an argument (``now``), so tests can run any pass with a fixed clock. The
statements of the hottest reads are built once, their values bound at each call: a
statement built per call is also hashed per call, to find its compiled form in
SQLAlchemy's cache, which cost about as much as the read itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, case, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.queue.errors import LeaseLost
from tally.queue.states import ACTIVE_STATUSES, TaskStatus
from tally.queue.wakeup import notify_task_queued
from tally.store.engine import is_sqlite
from tally.store.tables import tasks

# Must read exactly as the WHERE of uq_tasks_active_dedupe_key, or ON CONFLICT cannot use it.
_ACTIVE_PREDICATE = "status IN ('queued', 'processing')"


@dataclass(frozen=True)
class Task:
    id: str
    account_id: int
    kind: str
    params: dict[str, Any]
    status: TaskStatus
    progress: int
    result: Any
    error_text: str
    attempts: int
    lease_owner: str | None
    parent_id: str | None
    #: While the task is active, no other task with this key can be (a refresh's pair).
    dedupe_key: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Task:
        return cls(
            id=row.id,
            account_id=row.account_id,
            kind=row.kind,
            params=row.params,
            status=TaskStatus(row.status),
            progress=row.progress,
            result=row.result,
            error_text=row.error_text,
            attempts=row.attempts,
            lease_owner=row.lease_owner,
            parent_id=row.parent_id,
            dedupe_key=row.dedupe_key,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )


# task_insert -- create a queued task, or return the active one holding the same dedupe key.
async def task_insert(
    conn: AsyncConnection,
    *,
    account_id: int,
    kind: str,
    params: dict[str, Any],
    now: datetime,
    dedupe_key: str | None = None,
    parent_id: str | None = None,
) -> tuple[str, bool]:
    """The task id, and whether it was created (False: an active duplicate exists).

    A task with a ``parent_id`` keeps its parent from being purged while it is active.

    On PostgreSQL the inserters of one dedupe key take turns (a transaction-level advisory
    lock on it): an insert that meets an active task which then finishes before it can be
    found inserts again, and no other inserter can have slipped a new one in meanwhile.
    Without the turns, refreshes of one pair that finish in milliseconds let a request
    meet a new task and miss it, again and again (make loadtest saw it). SQLite writes one
    transaction at a time anyway.
    """
    insert = sqlite_insert if is_sqlite(conn) else pg_insert
    if dedupe_key is not None and not is_sqlite(conn):
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": dedupe_key})
    for _ in range(2):
        task_id = str(uuid.uuid4())
        statement = insert(tasks).values(
            id=task_id,
            account_id=account_id,
            kind=kind,
            params=params,
            status=TaskStatus.QUEUED.value,
            progress=0,
            error_text="",
            attempts=0,
            created_at=now,
            scheduled_at=now,
            dedupe_key=dedupe_key,
            parent_id=parent_id,
        )
        if dedupe_key is not None:
            statement = statement.on_conflict_do_nothing(
                index_elements=["dedupe_key"], index_where=text(_ACTIVE_PREDICATE)
            )
        inserted = await conn.scalar(statement.returning(tasks.c.id))
        if inserted is not None:
            await notify_task_queued(conn)
            return str(inserted), True
        assert dedupe_key is not None
        existing = await task_active_for_key(conn, dedupe_key, lock=True)
        if existing is not None:
            return existing, False
        # The active task finished between our insert and our look: insert again.
    raise RuntimeError(f"could not insert or find an active task for {dedupe_key!r}")


# task_active_for_key -- the queued or processing task holding a dedupe key, if any.
async def task_active_for_key(conn: AsyncConnection, dedupe_key: str, *, lock: bool = False) -> str | None:
    """With ``lock`` (PostgreSQL), the row stays locked until commit: the task cannot finish
    meanwhile, so whatever this transaction attaches to it (feedback) is seen by its finish.
    """
    query = _ACTIVE_FOR_KEY_LOCKED if lock and not is_sqlite(conn) else _ACTIVE_FOR_KEY
    found = await conn.scalar(query, {"dedupe_key": dedupe_key})
    return None if found is None else str(found)


_ACTIVE_FOR_KEY = select(tasks.c.id).where(tasks.c.dedupe_key == bindparam("dedupe_key"), text(_ACTIVE_PREDICATE))
_ACTIVE_FOR_KEY_LOCKED = _ACTIVE_FOR_KEY.with_for_update()


# task_get -- one task of one account.
async def task_get(conn: AsyncConnection, account_id: int, task_id: str) -> Task | None:
    row = (await conn.execute(_TASK_OF_ACCOUNT, {"task_id": task_id, "account_id": account_id})).first()
    return None if row is None else Task.from_row(row)


_TASK_OF_ACCOUNT = select(tasks).where(
    tasks.c.id == bindparam("task_id"), tasks.c.account_id == bindparam("account_id")
)


# task_claim -- queued -> processing: the oldest due task, leased to `owner`.
async def task_claim(conn: AsyncConnection, *, owner: str, now: datetime, lease: timedelta) -> Task | None:
    candidate = (
        select(tasks.c.id)
        .where(tasks.c.status == TaskStatus.QUEUED.value, tasks.c.scheduled_at <= now)
        .order_by(tasks.c.scheduled_at, tasks.c.id)
        .limit(1)
    )
    if not is_sqlite(conn):
        # Concurrent workers skip a row another one is claiming instead of queueing on it.
        # SQLite needs no such clause: the claim runs inside BEGIN IMMEDIATE.
        candidate = candidate.with_for_update(skip_locked=True)
    row = (
        await conn.execute(
            update(tasks)
            .where(tasks.c.id == candidate.scalar_subquery(), tasks.c.status == TaskStatus.QUEUED.value)
            .values(
                status=TaskStatus.PROCESSING.value,
                lease_owner=owner,
                lease_expires_at=now + lease,
                attempts=tasks.c.attempts + 1,
                started_at=func.coalesce(tasks.c.started_at, now),
            )
            .returning(*tasks.c)
        )
    ).first()
    return None if row is None else Task.from_row(row)


def _held_by(task_id: str, owner: str) -> Any:
    return (tasks.c.id == task_id) & (tasks.c.status == TaskStatus.PROCESSING.value) & (tasks.c.lease_owner == owner)


# task_renew_lease -- processing -> processing: extend the lease, and raise progress if given.
async def task_renew_lease(
    conn: AsyncConnection,
    *,
    task_id: str,
    owner: str,
    now: datetime,
    lease: timedelta,
    progress: int | None = None,
) -> None:
    values: dict[str, Any] = {"lease_expires_at": now + lease}
    if progress is not None:
        # Progress never goes down, even when a retried task starts counting again.
        values["progress"] = case((tasks.c.progress > progress, tasks.c.progress), else_=progress)
    result = await conn.execute(update(tasks).where(_held_by(task_id, owner)).values(**values))
    if result.rowcount != 1:
        raise LeaseLost(task_id)


# task_complete -- processing -> completed, only by the lease holder.
async def task_complete(conn: AsyncConnection, *, task_id: str, owner: str, now: datetime, result: Any) -> Task:
    return await _transition(
        conn,
        task_id,
        update(tasks)
        .where(_held_by(task_id, owner))
        .values(
            status=TaskStatus.COMPLETED.value,
            progress=100,
            result=result,
            finished_at=now,
            lease_owner=None,
            lease_expires_at=None,
        ),
    )


# task_fail -- processing -> error, only by the lease holder; progress stays where it was.
async def task_fail(conn: AsyncConnection, *, task_id: str, owner: str, now: datetime, error_text: str) -> Task:
    return await _transition(
        conn,
        task_id,
        update(tasks)
        .where(_held_by(task_id, owner))
        .values(
            status=TaskStatus.ERROR.value,
            error_text=error_text,
            finished_at=now,
            lease_owner=None,
            lease_expires_at=None,
        ),
    )


async def _transition(conn: AsyncConnection, task_id: str, statement: Any) -> Task:
    """Run a guarded UPDATE of one running task; LeaseLost if its WHERE matched nothing."""
    row = (await conn.execute(statement.returning(*tasks.c))).first()
    if row is None:
        raise LeaseLost(task_id)
    return Task.from_row(row)


# task_release -- processing -> queued by its own worker (shutting down), taking back the
# attempt: the claim did not get to run the task.
async def task_release(conn: AsyncConnection, *, task_id: str, owner: str) -> None:
    await conn.execute(
        update(tasks)
        .where(_held_by(task_id, owner))
        .values(
            status=TaskStatus.QUEUED.value,
            lease_owner=None,
            lease_expires_at=None,
            attempts=tasks.c.attempts - 1,
        )
    )


# task_requeue -- processing -> queued by its own worker, keeping the attempt: the run was
# interrupted (a lost database connection) and counts towards TALLY_MAX_ATTEMPTS.
async def task_requeue(conn: AsyncConnection, *, task_id: str, owner: str, now: datetime) -> None:
    await conn.execute(
        update(tasks)
        .where(_held_by(task_id, owner))
        .values(status=TaskStatus.QUEUED.value, lease_owner=None, lease_expires_at=None, scheduled_at=now)
    )


@dataclass(frozen=True)
class Reaped:
    """What a reaper pass did: tasks put back, and tasks it ended as error."""

    requeued: int
    abandoned: list[Task]


# task_reap_expired -- processing -> queued (attempts left) or error (none left), lease expired.
async def task_reap_expired(conn: AsyncConnection, *, now: datetime, max_attempts: int) -> Reaped:
    expired = (tasks.c.status == TaskStatus.PROCESSING.value) & (tasks.c.lease_expires_at < now)
    abandoned = await conn.execute(
        update(tasks)
        .where(expired, tasks.c.attempts >= max_attempts)
        .values(
            status=TaskStatus.ERROR.value,
            error_text=f"Task abandoned: its worker stopped responding {max_attempts} times",
            finished_at=now,
            lease_owner=None,
            lease_expires_at=None,
        )
        .returning(*tasks.c)
    )
    abandoned_tasks = [Task.from_row(row) for row in abandoned]
    requeued = await conn.execute(
        update(tasks)
        .where(expired, tasks.c.attempts < max_attempts)
        .values(
            status=TaskStatus.QUEUED.value,
            lease_owner=None,
            lease_expires_at=None,
            scheduled_at=now,
        )
    )
    return Reaped(requeued=int(requeued.rowcount), abandoned=abandoned_tasks)


# task_retry_later -- processing -> queued by its lease holder, due at `run_at`; a new try
# starts with fresh attempts (they count claims lost to dead workers, not planned retries).
async def task_retry_later(conn: AsyncConnection, *, task_id: str, owner: str, run_at: datetime) -> None:
    outcome = await conn.execute(
        update(tasks)
        .where(_held_by(task_id, owner))
        .values(
            status=TaskStatus.QUEUED.value,
            scheduled_at=run_at,
            attempts=0,
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    if outcome.rowcount != 1:
        raise LeaseLost(task_id)


# task_get_any -- one task by id, whatever its account (the worker's own reads).
async def task_get_any(conn: AsyncConnection, task_id: str) -> Task | None:
    row = (await conn.execute(select(tasks).where(tasks.c.id == task_id))).first()
    return None if row is None else Task.from_row(row)


# task_purge_finished -- delete completed and error tasks finished before `before`, except
# those whose child tasks are still active (a finished refresh whose delivery is retrying).
async def task_purge_finished(conn: AsyncConnection, *, before: datetime) -> int:
    child = tasks.alias("child")
    active_child = (
        select(child.c.id).where(child.c.parent_id == tasks.c.id, child.c.status.in_(ACTIVE_STATUSES)).exists()
    )
    result = await conn.execute(
        delete(tasks).where(
            tasks.c.status.in_([TaskStatus.COMPLETED.value, TaskStatus.ERROR.value]),
            tasks.c.finished_at < before,
            ~active_child,
        )
    )
    return int(result.rowcount)
