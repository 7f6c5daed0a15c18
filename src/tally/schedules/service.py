"""Writing schedules, and the maintenance pass that queues their due refreshes.

A due run is queued by the pass in one transaction with the schedule row locked: it
starts the refresh (``refresh_start``, so it dedupes with a refresh of the pair already
queued or running, like any refresh), registers the schedule's feedback with that task,
and moves ``next_due_at`` to the first due time after now. However many workers run the
pass, a second one finds the row locked (PostgreSQL skips it) or already moved on, so each
due time is queued once; after downtime the missed times give one run, not one each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.catalog.service import Page, pair_require
from tally.config import Settings
from tally.counters.refresh import refresh_start
from tally.errors import NotFound, TallyError
from tally.feedback.queries import delivery_register
from tally.schedules import queries
from tally.schedules.cron import next_due

#: Due schedules queued per maintenance round; the rest wait for the next round.
DUE_PER_ROUND = 100

log = logging.getLogger("tally.schedules")


@dataclass(frozen=True)
class ScheduleFeedback:
    url: str
    type: str


@dataclass(frozen=True)
class Schedule:
    id: int
    database_id: int
    resource_id: int
    cron: str
    timezone: str
    feedback: ScheduleFeedback | None
    paused: bool
    next_due_at: datetime
    last_run_at: datetime | None
    last_task_id: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> Schedule:
        feedback = None if row.feedback_url is None else ScheduleFeedback(row.feedback_url, row.feedback_type)
        return cls(
            id=row.id,
            database_id=row.database_id,
            resource_id=row.resource_id,
            cron=row.cron,
            timezone=row.timezone,
            feedback=feedback,
            paused=bool(row.paused),
            next_due_at=row.next_due_at,
            last_run_at=row.last_run_at,
            last_task_id=row.last_task_id,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _feedback_columns(feedback: ScheduleFeedback | None) -> dict[str, Any]:
    return {"feedback_url": feedback.url if feedback else None, "feedback_type": feedback.type if feedback else None}


async def schedule_add(
    conn: AsyncConnection,
    account_id: int,
    database_id: int,
    resource_id: int,
    *,
    cron: str,
    timezone: str,
    feedback: ScheduleFeedback | None,
    now: datetime,
) -> Schedule:
    """A new schedule of the pair (404 for a database or resource not the account's)."""
    await pair_require(conn, account_id, database_id, resource_id)
    schedule_id = await queries.schedule_insert(
        conn,
        {
            "account_id": account_id,
            "database_id": database_id,
            "resource_id": resource_id,
            "cron": cron,
            "timezone": timezone,
            "paused": False,
            "next_due_at": next_due(cron, timezone, now),
            "created_at": now,
            "updated_at": now,
            **_feedback_columns(feedback),
        },
    )
    return await schedule_require(conn, account_id, schedule_id)


async def schedule_require(conn: AsyncConnection, account_id: int, schedule_id: int, *, lock: bool = False) -> Schedule:
    row = await queries.schedule_get(conn, account_id, schedule_id, lock=lock)
    if row is None:
        raise NotFound(f"Schedule not found: {schedule_id}")
    return Schedule.from_row(row)


async def schedule_list(conn: AsyncConnection, account_id: int, from_id: int, limit: int) -> Page[Schedule]:
    rows, total = await queries.schedule_page(conn, account_id, from_id, limit)
    page, extra = rows[:limit], rows[limit:]
    return Page([Schedule.from_row(row) for row in page], next_from_id=extra[0].id if extra else 0, total_count=total)


@dataclass(frozen=True)
class ScheduleChanges:
    """What schedules/update sets; None leaves it as it is (``feedback`` only when given)."""

    cron: str | None = None
    timezone: str | None = None
    paused: bool | None = None
    set_feedback: bool = False
    feedback: ScheduleFeedback | None = None


async def schedule_update(
    conn: AsyncConnection, account_id: int, schedule_id: int, changes: ScheduleChanges, now: datetime
) -> Schedule:
    """Apply ``changes``; a new cron, time zone or a resume counts from now on (a resumed
    schedule does not run the times it missed while paused)."""
    current = await schedule_require(conn, account_id, schedule_id, lock=True)
    cron = changes.cron or current.cron
    timezone = changes.timezone or current.timezone
    paused = current.paused if changes.paused is None else changes.paused
    values: dict[str, Any] = {"cron": cron, "timezone": timezone, "paused": paused, "updated_at": now}
    if changes.set_feedback:
        values |= _feedback_columns(changes.feedback)
    if changes.cron or changes.timezone or (current.paused and not paused):
        values["next_due_at"] = next_due(cron, timezone, now)
    await queries.schedule_update(conn, schedule_id, values)
    return await schedule_require(conn, account_id, schedule_id)


async def schedule_delete(conn: AsyncConnection, account_id: int, schedule_id: int) -> None:
    await schedule_require(conn, account_id, schedule_id, lock=True)
    await queries.schedule_delete(conn, schedule_id)


async def queue_due_runs(conn: AsyncConnection, now: datetime, settings: Settings) -> None:
    """The maintenance pass: queue the refresh of every schedule whose due time has come."""
    for row in await queries.schedules_due(conn, now, DUE_PER_ROUND):
        schedule = Schedule.from_row(row)
        values: dict[str, Any] = {"next_due_at": next_due(schedule.cron, schedule.timezone, now)}
        try:
            task_id = await refresh_start(conn, row.account_id, schedule.database_id, schedule.resource_id)
        except TallyError as error:  # its database or resource is going: it has nothing to count
            log.warning("schedule %s: refresh not started (%s)", schedule.id, error.text)
        else:
            if schedule.feedback is not None:
                await delivery_register(
                    conn,
                    task_id=task_id,
                    account_id=row.account_id,
                    url=schedule.feedback.url,
                    type_=schedule.feedback.type,
                    now=now,
                )
            values |= {"last_run_at": now, "last_task_id": task_id}
            log.info("schedule %s: refresh %s queued (due %s)", schedule.id, task_id, schedule.next_due_at.isoformat())
        await queries.schedule_update(conn, schedule.id, values)
