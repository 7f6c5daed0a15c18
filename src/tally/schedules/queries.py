"""Every statement on the ``schedules`` table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.store.engine import is_sqlite
from tally.store.tables import schedules


# schedule_insert -- a new schedule; its id.
async def schedule_insert(conn: AsyncConnection, values: dict[str, Any]) -> int:
    result = await conn.execute(insert(schedules).values(**values).returning(schedules.c.id))
    return int(result.scalar_one())


# schedule_get -- one schedule of one account (locked for a change when asked).
async def schedule_get(
    conn: AsyncConnection, account_id: int, schedule_id: int, *, lock: bool = False
) -> Row[Any] | None:
    query = select(schedules).where(schedules.c.id == schedule_id, schedules.c.account_id == account_id)
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    row: Row[Any] | None = (await conn.execute(query)).first()
    return row


# schedule_page -- up to `limit` + 1 schedules of an account from `from_id` on, and how many in all.
async def schedule_page(conn: AsyncConnection, account_id: int, from_id: int, limit: int) -> tuple[list[Row[Any]], int]:
    mine = schedules.c.account_id == account_id
    total = await conn.scalar(select(func.count()).select_from(schedules).where(mine))
    rows = await conn.execute(
        select(schedules).where(mine, schedules.c.id >= from_id).order_by(schedules.c.id).limit(limit + 1)
    )
    return list(rows), int(total or 0)


# schedule_update -- set some columns of a schedule.
async def schedule_update(conn: AsyncConnection, schedule_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(schedules).where(schedules.c.id == schedule_id).values(**values))


# schedule_delete -- one schedule.
async def schedule_delete(conn: AsyncConnection, schedule_id: int) -> None:
    await conn.execute(delete(schedules).where(schedules.c.id == schedule_id))


# schedules_due -- the running schedules whose next due time has come, locked (PostgreSQL:
# rows another worker is queuing are skipped; SQLite's pass runs under BEGIN IMMEDIATE).
async def schedules_due(conn: AsyncConnection, now: datetime, limit: int) -> list[Row[Any]]:
    query = (
        select(schedules)
        .where(schedules.c.paused.is_(False), schedules.c.next_due_at <= now)
        .order_by(schedules.c.next_due_at, schedules.c.id)
        .limit(limit)
    )
    if not is_sqlite(conn):
        query = query.with_for_update(skip_locked=True)
    return list(await conn.execute(query))
