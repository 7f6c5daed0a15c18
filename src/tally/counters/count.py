"""The recount: one aggregate over ``ix_subscriptions_count``, a chunk of profiles at a time.

A chunk is a range of profile ids inside one (database, resource): the index is ordered
by (database_id, resource_id, profile_id, ...), so each chunk is one contiguous range scan
that reads channel, status and is_sendable from the index alone. Each chunk runs in its
own read transaction, so the counts of a refresh that runs while profiles change are
true, chunk by chunk, for some state between the task's start and its end.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Boolean, ColumnElement, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.store.tables import subscriptions

# Written exactly as the WHERE of ix_subscriptions_count: SQLite uses a partial index only
# when the query repeats its condition term for term.
IS_EFFECTIVE: ColumnElement[bool] = literal_column("is_effective", Boolean)


@dataclass
class Tally:
    """Per (channel code, status): effective subscriptions, and the sendable ones."""

    counted: Counter[tuple[int, int]] = field(default_factory=Counter)
    sendable: Counter[tuple[int, int]] = field(default_factory=Counter)


def _scope(database_id: int, resource_id: int) -> list[ColumnElement[bool]]:
    return [
        subscriptions.c.database_id == database_id,
        subscriptions.c.resource_id == resource_id,
        IS_EFFECTIVE,
    ]


async def profile_id_range(conn: AsyncConnection, database_id: int, resource_id: int) -> tuple[int, int] | None:
    """The lowest and highest profile id with an effective subscription, if any."""
    row = (
        await conn.execute(
            select(func.min(subscriptions.c.profile_id), func.max(subscriptions.c.profile_id)).where(
                *_scope(database_id, resource_id)
            )
        )
    ).one()
    return None if row[0] is None else (int(row[0]), int(row[1]))


async def count_chunk(
    conn: AsyncConnection, database_id: int, resource_id: int, first: int, last: int, into: Tally
) -> None:
    """Add the counts of profiles ``first``..``last`` (inclusive) to ``into``."""
    rows = await conn.execute(
        select(
            subscriptions.c.channel,
            subscriptions.c.status,
            func.count(),
            func.count().filter(subscriptions.c.is_sendable),
        )
        .where(*_scope(database_id, resource_id), subscriptions.c.profile_id.between(first, last))
        .group_by(subscriptions.c.channel, subscriptions.c.status)
    )
    for channel, status, count, sendable in rows:
        into.counted[(channel, status)] += count
        into.sendable[(channel, status)] += sendable


def chunk_ranges(low: int, high: int, chunk_size: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk_size - 1, high)) for start in range(low, high + 1, chunk_size)]
