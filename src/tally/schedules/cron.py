"""Cron expressions and time zones, checked when a schedule is written; its next due time.

Expressions are the five fields of cron (minute, hour, day of month, month, day of week),
read by cronsim (the library healthchecks.io runs on), never by hand. They are evaluated in
the schedule's IANA time zone, so "30 2 * * *" is 02:30 local time whatever the season.
On the night the clock skips 02:30 the run comes when it jumps (03:00); on the night it
repeats 02:30 there is one run, at the first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

MAX_CRON_LENGTH = 200


class InvalidSchedule(ValueError):
    """A cron expression or a time zone Tally cannot run; the text says which and why."""


def check_cron(expression: str) -> str:
    expression = " ".join(expression.split())
    if len(expression) > MAX_CRON_LENGTH or len(expression.split(" ")) != 5:
        raise InvalidSchedule("must be a cron expression of 5 fields (minute hour day month weekday)")
    try:
        CronSim(expression, datetime.now(UTC))
    except CronSimError as error:
        raise InvalidSchedule(f"is not a valid cron expression ({error})") from None
    return expression


def check_timezone(name: str) -> str:
    name = name.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidSchedule("must be an IANA time zone name, such as UTC or Europe/Berlin") from None
    return name


def next_due(expression: str, timezone: str, after: datetime) -> datetime:
    """The first time the expression names, strictly after ``after``, in UTC."""
    local = after.astimezone(ZoneInfo(timezone))
    return next(CronSim(expression, local)).astimezone(UTC)


def next_dues(expression: str, timezone: str, after: datetime, count: int) -> list[datetime]:
    """The next ``count`` due times after ``after``, in UTC (a preview)."""
    times = CronSim(expression, after.astimezone(ZoneInfo(timezone)))
    return [next(times).astimezone(UTC) for _ in range(count)]
