"""Every statement of the counters: ``counter_sets`` (the last finished refresh of each
(database, resource)) and ``subscription_counts`` (the counts the triggers maintain)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.store.engine import is_sqlite
from tally.store.tables import counter_sets, subscription_counts


@dataclass(frozen=True)
class CounterSet:
    """What a refresh counted: the ``channels`` list as the API shows it, and when."""

    account_id: int
    channels: list[dict[str, Any]]
    total_count: int
    count_started_at: datetime
    count_duration_ns: int
    updated_at: datetime
    task_id: str


# counter_set_put -- store the counters of a (database, resource), replacing the previous set.
async def counter_set_put(conn: AsyncConnection, database_id: int, resource_id: int, counted: CounterSet) -> None:
    values = {
        "account_id": counted.account_id,
        "channels": counted.channels,
        "total_count": counted.total_count,
        "count_started_at": counted.count_started_at,
        "count_duration_ns": counted.count_duration_ns,
        "updated_at": counted.updated_at,
        "task_id": counted.task_id,
    }
    insert = sqlite_insert if is_sqlite(conn) else pg_insert
    await conn.execute(
        insert(counter_sets)
        .values(database_id=database_id, resource_id=resource_id, **values)
        .on_conflict_do_update(index_elements=["database_id", "resource_id"], set_=values)
    )


# counter_set_channels -- the stored ``channels`` of a (database, resource), if it was counted.
async def counter_set_channels(conn: AsyncConnection, database_id: int, resource_id: int) -> list[Any] | None:
    channels = await conn.scalar(
        select(counter_sets.c.channels).where(
            counter_sets.c.database_id == database_id, counter_sets.c.resource_id == resource_id
        )
    )
    return None if channels is None else list(channels)


# maintained_counts -- per (channel, status, is_sendable): the effective subscriptions of a
# (database, resource), as the triggers of migration 0012 keep them (rows of a key add up).
async def maintained_counts(
    conn: AsyncConnection, database_id: int, resource_id: int
) -> list[tuple[int, int, bool, int]]:
    counts = subscription_counts.c
    rows = await conn.execute(
        select(counts.channel, counts.status, counts.is_sendable, func.sum(counts.delta))
        .where(counts.database_id == database_id, counts.resource_id == resource_id)
        .group_by(counts.channel, counts.status, counts.is_sendable)
    )
    return [(channel, status, bool(sendable), int(total)) for channel, status, sendable, total in rows]


_KEY = "database_id, resource_id, channel, status, is_sendable"
# One statement, so that a reader sees the rows of a key before the fold or after it, never
# between. Keys of one row are left as they are; a key whose deltas add up to 0 goes.
_FOLD = text(
    f"""
    WITH keys AS (
        SELECT {_KEY} FROM subscription_counts GROUP BY {_KEY} HAVING count(*) > 1
    ), folded AS (
        DELETE FROM subscription_counts AS counts USING keys
        WHERE (counts.database_id, counts.resource_id, counts.channel, counts.status, counts.is_sendable)
            = (keys.database_id, keys.resource_id, keys.channel, keys.status, keys.is_sendable)
        RETURNING counts.database_id, counts.resource_id, counts.channel, counts.status, counts.is_sendable,
            counts.delta
    )
    INSERT INTO subscription_counts ({_KEY}, delta)
    SELECT {_KEY}, sum(delta) FROM folded GROUP BY {_KEY} HAVING sum(delta) <> 0
    """
)


# maintained_counts_fold -- PostgreSQL: fold each key's delta rows into one; how many keys
# were folded. SQLite's triggers keep one row per key already.
async def maintained_counts_fold(conn: AsyncConnection) -> int:
    if is_sqlite(conn):
        return 0
    result = await conn.execute(_FOLD)
    return int(result.rowcount or 0)
