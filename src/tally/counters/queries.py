"""Every statement on ``counter_sets``: the last finished refresh of each (database, resource)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.store.engine import is_sqlite
from tally.store.tables import counter_sets


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
