"""Every statement of the counters: ``counter_sets`` (the last finished refresh of each
(database, resource)), ``counter_history`` (every one of them) and ``subscription_counts``
(the counts the triggers maintain)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, bindparam, delete, func, insert, literal, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.store.engine import is_sqlite
from tally.store.tables import (
    count_reconciliations,
    counter_history,
    counter_sets,
    database_resources,
    databases,
    subscription_counts,
)


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


# history_add -- keep a finished refresh's counters in the history of its (database, resource).
async def history_add(conn: AsyncConnection, database_id: int, resource_id: int, counted: CounterSet) -> None:
    await conn.execute(
        insert(counter_history).values(
            database_id=database_id,
            resource_id=resource_id,
            task_id=counted.task_id,
            channels=counted.channels,
            total_count=counted.total_count,
            count_started_at=counted.count_started_at,
            count_duration_ns=counted.count_duration_ns,
            updated_at=counted.updated_at,
        )
    )


def _history_window(database_id: int, resource_id: int, since: datetime | None, until: datetime | None) -> list[Any]:
    history = counter_history.c
    window = [history.database_id == database_id, history.resource_id == resource_id]
    if since is not None:
        window.append(history.updated_at >= since)
    if until is not None:
        window.append(history.updated_at < until)
    return window


# history_page -- up to `limit` + 1 refreshes of a (database, resource) in a time window, from
# `from_id` on in the order asked (the extra one tells the next page), and how many in all.
async def history_page(
    conn: AsyncConnection,
    database_id: int,
    resource_id: int,
    *,
    since: datetime | None,
    until: datetime | None,
    from_id: int,
    limit: int,
    newest_first: bool,
) -> tuple[list[Row[Any]], int]:
    history = counter_history.c
    window = _history_window(database_id, resource_id, since, until)
    total = await conn.scalar(select(func.count()).select_from(counter_history).where(*window))
    query = select(counter_history).where(*window)
    if from_id:
        query = query.where(history.id <= from_id if newest_first else history.id >= from_id)
    query = query.order_by(history.id.desc() if newest_first else history.id).limit(limit + 1)
    return list(await conn.execute(query)), int(total or 0)


# history_before -- for each history row id, the row of the refresh of the same pair just
# before it, if any (the base of its changes), whatever window the page was asked for.
async def history_before(conn: AsyncConnection, ids: list[int]) -> dict[int, Row[Any]]:
    if not ids:
        return {}
    later, earlier = counter_history.alias("later"), counter_history.alias("earlier")
    previous_id = (
        select(func.max(earlier.c.id))
        .where(
            earlier.c.database_id == later.c.database_id,
            earlier.c.resource_id == later.c.resource_id,
            earlier.c.id < later.c.id,
        )
        .scalar_subquery()
    )
    pairs = {row[0]: row[1] for row in await conn.execute(select(later.c.id, previous_id).where(later.c.id.in_(ids)))}
    found = [previous for previous in pairs.values() if previous is not None]
    if not found:
        return {}
    rows = {row.id: row for row in await conn.execute(select(counter_history).where(counter_history.c.id.in_(found)))}
    return {row_id: rows[previous] for row_id, previous in pairs.items() if previous in rows}


# history_point -- the refresh of a (database, resource) that a task counted, or the last one
# counted at or before `at` (to the millisecond, as `updated` shows it), or the last one
# (before history id `below`, when given).
async def history_point(
    conn: AsyncConnection,
    database_id: int,
    resource_id: int,
    *,
    task_id: str | None = None,
    at: datetime | None = None,
    below: int | None = None,
) -> Row[Any] | None:
    history = counter_history.c
    query = select(counter_history).where(history.database_id == database_id, history.resource_id == resource_id)
    if task_id is not None:
        query = query.where(history.task_id == task_id)
    if at is not None:
        query = query.where(history.updated_at < at + timedelta(milliseconds=1))
    if below is not None:
        query = query.where(history.id < below)
    return (await conn.execute(query.order_by(history.id.desc()).limit(1))).first()


# history_purge -- delete up to `batch` history rows counted before `before`; how many.
async def history_purge(conn: AsyncConnection, before: datetime, batch: int = 10_000) -> int:
    old = select(counter_history.c.id).where(counter_history.c.updated_at < before).limit(batch)
    result = await conn.execute(delete(counter_history).where(counter_history.c.id.in_(old)))
    return int(result.rowcount)


# counter_set_channels -- the stored ``channels`` of a (database, resource), if it was counted.
async def counter_set_channels(conn: AsyncConnection, database_id: int, resource_id: int) -> list[Any] | None:
    channels = await conn.scalar(_CHANNELS, {"database_id": database_id, "resource_id": resource_id})
    return None if channels is None else list(channels)


# Built once: databases/get_counters runs it on every call (queue/queries.py says why).
_CHANNELS = select(counter_sets.c.channels).where(
    counter_sets.c.database_id == bindparam("database_id"), counter_sets.c.resource_id == bindparam("resource_id")
)


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


# maintained_counts_add -- add ``delta`` to keys of a (database, resource): a correction.
# PostgreSQL takes a row per key as the triggers do; SQLite's one row per key is updated
# (a second row would take every later trigger's change twice), or made.
async def maintained_counts_add(
    conn: AsyncConnection, database_id: int, resource_id: int, deltas: list[tuple[int, int, bool, int]]
) -> None:
    counts = subscription_counts.c
    for channel, status, sendable, delta in deltas:
        key = {"database_id": database_id, "resource_id": resource_id, "channel": channel, "status": status}
        key["is_sendable"] = sendable
        if is_sqlite(conn):
            found = await conn.execute(
                update(subscription_counts)
                .where(*(counts[name] == value for name, value in key.items()))
                .values(delta=counts.delta + delta)
            )
            if found.rowcount:
                continue
        await conn.execute(insert(subscription_counts).values(**key, delta=delta))


# reconciliations_due -- up to ``limit`` linked (database, resource) pairs whose counts were
# last checked before ``before``, oldest first, as (account, database, resource). A pair
# seen for the first time is noted as checked ``now``: its counts were filled from the rows
# by migration 0012 or started empty, so it comes due one interval later.
async def reconciliations_due(
    conn: AsyncConnection, now: datetime, before: datetime, limit: int
) -> list[tuple[int, int, int]]:
    checks = count_reconciliations.c
    insert_new = sqlite_insert if is_sqlite(conn) else pg_insert
    moment = literal(now, type_=checks.checked_at.type)
    unseen = select(database_resources.c.database_id, database_resources.c.resource_id, moment).where(
        ~select(checks.database_id)
        .where(
            checks.database_id == database_resources.c.database_id,
            checks.resource_id == database_resources.c.resource_id,
        )
        .exists()
    )
    await conn.execute(
        insert_new(count_reconciliations)
        .from_select(["database_id", "resource_id", "checked_at"], unseen)
        .on_conflict_do_nothing()
    )
    linked = tuple_(checks.database_id, checks.resource_id).in_(
        select(database_resources.c.database_id, database_resources.c.resource_id)
    )
    query = (
        select(databases.c.account_id, checks.database_id, checks.resource_id)
        .join(databases, databases.c.id == checks.database_id)
        .where(checks.checked_at < before, linked)
        .order_by(checks.checked_at)
        .limit(limit)
    )
    if not is_sqlite(conn):
        query = query.with_for_update(of=count_reconciliations, skip_locked=True)
    return [
        (account_id, database_id, resource_id) for account_id, database_id, resource_id in await conn.execute(query)
    ]


# reconciliations_mark -- note these pairs as checked ``now``.
async def reconciliations_mark(conn: AsyncConnection, pairs: list[tuple[int, int]], now: datetime) -> None:
    if pairs:
        checks = count_reconciliations.c
        await conn.execute(
            update(count_reconciliations)
            .where(tuple_(checks.database_id, checks.resource_id).in_(pairs))
            .values(checked_at=now)
        )
