"""What the queue tests share: a clock that only moves when told, and short-cuts to rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.catalog.service import database_add, resource_add
from tally.demo import demo_profiles
from tally.profiles.service import profiles_add
from tally.queue import queries
from tally.queue.execution import Runner, TaskKind
from tally.queue.registry import EndHook, Registry
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import tasks

T0 = datetime(2024, 4, 17, 21, 36, 1, 449000, tzinfo=UTC)
LEASE = timedelta(seconds=30)


class FakeClock:
    """A clock for Worker(clock=...): it shows ``now`` and moves only with ``advance``."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def registry_for(runners: Mapping[str, Runner], end_hooks: Sequence[EndHook] = ()) -> Registry:
    """A Registry of the given runners (kind name -> runner), for a Worker under test."""
    return Registry.of(*(TaskKind(name, run) for name, run in runners.items()), end_hooks=end_hooks)


async def insert_task(
    engine: AsyncEngine,
    account_id: int,
    *,
    now: datetime = T0,
    kind: str = "test",
    dedupe_key: str | None = None,
    params: dict[str, Any] | None = None,
) -> str:
    async with write_transaction(engine) as conn:
        task_id, created = await queries.task_insert(
            conn, account_id=account_id, kind=kind, params=params or {}, now=now, dedupe_key=dedupe_key
        )
    assert created
    return task_id


async def claim(engine: AsyncEngine, owner: str, *, now: datetime = T0) -> queries.Task | None:
    async with write_transaction(engine) as conn:
        return await queries.task_claim(conn, owner=owner, now=now, lease=LEASE)


async def task_row(engine: AsyncEngine, task_id: str) -> Row[Any]:
    async with read_transaction(engine) as conn:
        return (await conn.execute(select(tasks).where(tasks.c.id == task_id))).one()


async def task_count(engine: AsyncEngine) -> int:
    async with read_transaction(engine) as conn:
        return int(await conn.scalar(select(func.count()).select_from(tasks)) or 0)


async def add_catalog(engine: AsyncEngine, account_id: int, profiles: int) -> tuple[int, int]:
    """A database with ``profiles`` demo profiles and a resource linked to it."""
    async with write_transaction(engine) as conn:
        database_id = await database_add(conn, account_id, "Customers", "")
        resource_id = await resource_add(conn, account_id, "Newsletter", ["email", "sms", "push"], [database_id])
        await profiles_add(conn, account_id, database_id, list(demo_profiles(profiles, resource_id)))
    return database_id, resource_id
