"""The numbers over time: every finished refresh of a (database, resource), and what changed.

A refresh's finish writes its counters to ``counter_history`` beside ``counter_sets``, in
the same transaction (refresh.py); a maintenance pass purges rows older than
``TALLY_HISTORY_DAYS``. Each entry's changes are taken against the refresh of the same
pair just before it, whatever time window or page the entry was asked in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.catalog.service import Page, pair_require
from tally.config import Settings
from tally.counters import queries
from tally.errors import NotFound


@dataclass(frozen=True)
class HistoryEntry:
    """One finished refresh, and the channels of the one before it (None for the first)."""

    id: int
    task_id: str
    channels: list[dict[str, Any]]
    total_count: int
    count_started_at: datetime
    count_duration_ns: int
    updated_at: datetime
    previous_channels: list[dict[str, Any]] | None


async def history_list(
    conn: AsyncConnection,
    account_id: int,
    database_id: int,
    resource_id: int,
    *,
    since: datetime | None,
    until: datetime | None,
    from_id: int,
    limit: int,
    newest_first: bool,
) -> Page[HistoryEntry]:
    """A page of the pair's refreshes counted in [since, until), newest first or oldest first."""
    await pair_require(conn, account_id, database_id, resource_id)
    rows, total = await queries.history_page(
        conn,
        database_id,
        resource_id,
        since=since,
        until=until,
        from_id=from_id,
        limit=limit,
        newest_first=newest_first,
    )
    page, extra = rows[:limit], rows[limit:]
    before = await queries.history_before(conn, [row.id for row in page])
    entries = [_entry(row, before.get(row.id)) for row in page]
    return Page(entries, next_from_id=extra[0].id if extra else 0, total_count=total)


@dataclass(frozen=True)
class Point:
    """One side of a diff: the refresh a task counted, or the last one counted by a time;
    neither given, the default (the last refresh; for ``before``, the one before ``after``)."""

    task_id: str | None = None
    at: datetime | None = None

    def describe(self) -> str:
        if self.task_id is not None:
            return f"by task {self.task_id}"
        if self.at is not None:
            return f"at or before {self.at.isoformat()}"
        return ""


async def history_diff(
    conn: AsyncConnection, account_id: int, database_id: int, resource_id: int, before: Point, after: Point
) -> tuple[HistoryEntry, HistoryEntry]:
    """The two refreshes to compare; NotFound names the side that has none."""
    await pair_require(conn, account_id, database_id, resource_id)
    later = await queries.history_point(conn, database_id, resource_id, task_id=after.task_id, at=after.at)
    if later is None:
        raise NotFound(f"No refresh of database {database_id} and resource {resource_id} {after.describe()}".rstrip())
    defaulted = before.task_id is None and before.at is None
    earlier = await queries.history_point(
        conn, database_id, resource_id, task_id=before.task_id, at=before.at, below=later.id if defaulted else None
    )
    if earlier is None:
        side = before.describe() or "before the one compared with"
        raise NotFound(f"No refresh of database {database_id} and resource {resource_id} {side}")
    return _entry(earlier, None), _entry(later, None)


def counter_diff(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per channel of ``after``, each counter's ``before``, ``after`` and ``change``."""
    earlier = {entry["channel"]: entry["status"] for entry in before}
    return [
        {
            "channel": entry["channel"],
            "status": {
                counter: {"before": old, "after": value, "change": value - old}
                for counter, value in entry["status"].items()
                for old in [int(earlier.get(entry["channel"], {}).get(counter, 0))]
            },
        }
        for entry in after
    ]


def _entry(row: Row[Any], previous: Row[Any] | None) -> HistoryEntry:
    return HistoryEntry(
        id=row.id,
        task_id=row.task_id,
        channels=list(row.channels),
        total_count=row.total_count,
        count_started_at=row.count_started_at,
        count_duration_ns=row.count_duration_ns,
        updated_at=row.updated_at,
        previous_channels=None if previous is None else list(previous.channels),
    )


def channel_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per channel of ``after``, each counter's difference from ``before`` (0 where it had none)."""
    return [
        {
            "channel": entry["channel"],
            "status": {counter: sides["change"] for counter, sides in entry["status"].items()},
        }
        for entry in counter_diff(before, after)
    ]


async def purge_history(conn: AsyncConnection, now: datetime, settings: Settings) -> None:
    """The maintenance pass: forget refreshes counted more than TALLY_HISTORY_DAYS ago."""
    await queries.history_purge(conn, now - timedelta(days=settings.history_days))
