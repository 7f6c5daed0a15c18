"""The recount: one aggregate over ``ix_subscriptions_count``, a chunk of keys at a time.

The index is ordered by (database_id, resource_id, channel, status, is_sendable), the
research's layout (research/perf-baseline.md): on PostgreSQL B-tree deduplication keeps it
at a few bytes per row, and GROUP BY channel, status follows the index order, so SQLite
needs no sort either (a profile-first index made SQLite 5x slower: it sorted every row).

A chunk is therefore a run of statuses within one channel, one contiguous range of the
index: ``channel = c AND status BETWEEN s1 AND s2``. Runs are cut so that each holds about
``chunk_size`` rows by the previous refresh's counts; a first refresh counts one chunk per
channel. Progress is the estimated share of rows counted. All chunks of a refresh read one
snapshot (counters/refresh.py), so a refresh that runs while profiles change gives counts
that were all true together for one state between the task's start and its end: a
profile whose status changes between two chunks is still counted exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.profiles.statuses import Status
from tally.store.tables import subscriptions

# Written exactly as the WHERE of ix_subscriptions_count: SQLite uses a partial index only
# when the query repeats its condition term for term.
# Untyped on purpose: typed as Boolean, SQLAlchemy renders "is_effective = 1" on SQLite,
# which does not match the index's WHERE, and SQLite then scans the whole table.
IS_EFFECTIVE: ColumnElement[Any] = literal_column("is_effective")
FIRST_STATUS, LAST_STATUS = int(min(Status)), int(max(Status))


@dataclass
class Tally:
    """Per (channel code, status): effective subscriptions, and the sendable ones."""

    counted: Counter[tuple[int, int]] = field(default_factory=Counter)
    sendable: Counter[tuple[int, int]] = field(default_factory=Counter)


@dataclass(frozen=True)
class Chunk:
    """Statuses ``first``..``last`` of one channel; ``weight`` is its estimated rows."""

    channel: int
    first: int
    last: int
    weight: int


def plan_chunks(
    channels: Iterable[int], chunk_size: int, previous: Mapping[tuple[int, int], int] | None
) -> list[Chunk]:
    """Cut each channel's statuses into runs of about ``chunk_size`` rows.

    ``previous`` is the row count per (channel, status) of the last refresh, or None for a
    first refresh, which counts each channel whole.
    """
    chunks: list[Chunk] = []
    for channel in channels:
        if previous is None:
            chunks.append(Chunk(channel, FIRST_STATUS, LAST_STATUS, 1))
            continue
        start: int = FIRST_STATUS
        rows = 0
        for status in Status:
            rows += previous.get((channel, status), 0)
            if rows >= chunk_size or status == LAST_STATUS:
                chunks.append(Chunk(channel, start, int(status), max(rows, 1)))
                start, rows = status + 1, 0
    return chunks


def chunk_query(database_id: int, resource_id: int, chunk: Chunk) -> Select[int, int, int]:
    """The aggregate of one chunk: (status, effective subscriptions, sendable ones)."""
    return (
        select(
            subscriptions.c.status,
            func.count(),
            func.count().filter(subscriptions.c.is_sendable),
        )
        .where(
            subscriptions.c.database_id == database_id,
            subscriptions.c.resource_id == resource_id,
            IS_EFFECTIVE,
            subscriptions.c.channel == chunk.channel,
            subscriptions.c.status.between(chunk.first, chunk.last),
        )
        .group_by(subscriptions.c.status)
    )


def maintained_tally(rows: Iterable[tuple[int, int, bool, int]]) -> Tally:
    """A Tally from the maintained counts: (channel code, status, sendable, subscriptions)."""
    tally = Tally()
    for channel, status, sendable, count in rows:
        tally.counted[(channel, status)] += count
        if sendable:
            tally.sendable[(channel, status)] += count
    return tally


async def count_chunk(conn: AsyncConnection, database_id: int, resource_id: int, chunk: Chunk, into: Tally) -> None:
    """Add the counts of one chunk to ``into``."""
    rows = await conn.execute(chunk_query(database_id, resource_id, chunk))
    for status, count, sendable in rows:
        into.counted[(chunk.channel, status)] += count
        into.sendable[(chunk.channel, status)] += sendable
