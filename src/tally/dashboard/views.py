"""What each page shows, read from the capabilities' services as plain data.

The templates only lay it out: every number, label and share is computed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.catalog.service import Database, Resource, pair_require
from tally.counters import history
from tally.counters.refresh import counters_get, dedupe_key
from tally.dashboard import queries
from tally.errors import NotFound
from tally.profiles.statuses import BLOCKING_STATUSES, Status
from tally.queue.queries import task_active_for_key
from tally.queue.states import TaskStatus

#: The ten counters of a channel in reading order: the reachable ones first (counting.md).
COUNTERS = (
    "all",
    "subscribed",
    "subscribed_sendable",
    "unconfirmed",
    "unconfirmed_sendable",
    "unsubscribed",
    "complained",
    "hardbounced",
    "suspended",
    "invalid",
)
BLOCKING = tuple(status.word for status in Status if status in BLOCKING_STATUSES)
RECENT_TASKS = 50


@dataclass(frozen=True)
class Moment:
    """A time as a page shows it: in UTC, with how long ago."""

    at: datetime

    @property
    def iso(self) -> str:
        return self.at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    @property
    def text(self) -> str:
        at = self.at.astimezone(UTC)
        return f"{at.day} {at:%b %Y, %H:%M:%S} UTC"

    def local(self, timezone: str) -> str:
        """In a time zone of the account's choosing, with its abbreviation (CET, EST...)."""
        local = self.at.astimezone(ZoneInfo(timezone))
        return f"{local:%a} {local.day} {local:%b %Y, %H:%M %Z}"

    def ago(self, now: datetime) -> str:
        seconds = int((now - self.at).total_seconds())
        if seconds < 0:
            return "in " + _span(-seconds)
        return _span(seconds) + " ago" if seconds >= 5 else "just now"


def _span(seconds: int) -> str:
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
    return f"{seconds} s"


def moment(at: datetime | None) -> Moment | None:
    return None if at is None else Moment(at)


#: How a page names each channel.
CHANNEL_LABELS = {"email": "Email", "sms": "SMS", "push": "Push"}


def channel_label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)


def duration(nanoseconds: int) -> str:
    """For people: 8.4 ms, 1.25 s, 3 min 20 s (the API keeps Go's exact spelling)."""
    seconds = nanoseconds / 1e9
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


@dataclass(frozen=True)
class Reach:
    """A channel's reachable totals on the home page."""

    channel: str
    subscribed_sendable: int
    unconfirmed_sendable: int


@dataclass(frozen=True)
class PairSummary:
    database_id: int
    database_name: str
    profiles: int
    resource_id: int
    resource_name: str
    reach: list[Reach]
    counted: Moment | None


@dataclass(frozen=True)
class Named:
    id: int
    name: str


@dataclass(frozen=True)
class Unlinked:
    """What the audience page lists apart: nothing to count until it is linked."""

    databases: list[Named]
    resources: list[Named]


async def unlinked(conn: AsyncConnection, account_id: int) -> Unlinked:
    databases, resources = await queries.unlinked(conn, account_id)
    return Unlinked([Named(row.id, row.name) for row in databases], [Named(row.id, row.name) for row in resources])


async def pairs(conn: AsyncConnection, account_id: int) -> list[PairSummary]:
    rows = await queries.pairs_with_counts(conn, account_id)
    return [
        PairSummary(
            database_id=row.database_id,
            database_name=row.database_name,
            profiles=row.profiles_count,
            resource_id=row.resource_id,
            resource_name=row.resource_name,
            reach=[
                Reach(entry["channel"], entry["status"]["subscribed_sendable"], entry["status"]["unconfirmed_sendable"])
                for entry in row.channels or []
            ],
            counted=moment(row.count_started_at),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class Segment:
    """One part of a channel's stacked bar."""

    key: str
    label: str
    count: int
    percent: float


@dataclass(frozen=True)
class ChannelCounters:
    channel: str
    #: The ten counters, in COUNTERS order.
    counters: dict[str, int]
    #: Per counter, the change since the refresh before the last one (empty: no such refresh).
    changes: dict[str, int]
    bar: list[Segment]

    @property
    def total(self) -> int:
        return self.counters["all"]

    @property
    def summary(self) -> str:
        """The bar in words, for screen readers and a page read without styles."""
        return ", ".join(f"{segment.label}: {segment.count:,}" for segment in self.bar)


@dataclass(frozen=True)
class PairCounters:
    database: Database
    resource: Resource
    channels: list[ChannelCounters]
    counted: Moment | None
    #: ``last_count_time`` and ``updated`` as the API gives them.
    count_duration: str
    updated: Moment | None
    names: tuple[str, ...] = COUNTERS


def stacked_bar(status: dict[str, int]) -> list[Segment]:
    """The database's profiles (``all``) on one channel: sendable; subscribed or unconfirmed
    but not sendable; in a blocking status; and with no subscription on the channel."""
    total = status["all"]
    sendable = status["subscribed_sendable"] + status["unconfirmed_sendable"]
    waiting = status["subscribed"] + status["unconfirmed"] - sendable
    blocked = sum(status[word] for word in BLOCKING)
    parts = [
        ("sendable", "Sendable", sendable),
        ("unsendable", "Subscribed or unconfirmed, not sendable", waiting),
        ("blocked", "Unsubscribed, complained, bounced, suspended or invalid", blocked),
        ("none", "No subscription on this channel", max(total - sendable - waiting - blocked, 0)),
    ]
    return [Segment(key, label, count, 100.0 * count / total if total else 0.0) for key, label, count in parts]


async def pair_counters(conn: AsyncConnection, account_id: int, database_id: int, resource_id: int) -> PairCounters:
    database, resource = await pair_require(conn, account_id, database_id, resource_id)
    channels = await counters_get(conn, account_id, database_id, resource_id)
    counted = await queries.counted_at(conn, database_id, resource_id)
    latest = await history.history_list(
        conn,
        account_id,
        database_id,
        resource_id,
        since=None,
        until=None,
        from_id=0,
        limit=1,
        newest_first=True,
    )
    changes: dict[str, dict[str, int]] = {}
    if latest.items and latest.items[0].previous_channels is not None:
        entry = latest.items[0]
        assert entry.previous_channels is not None
        changes = {
            change["channel"]: change["status"] for change in history.channel_changes(entry.previous_channels, channels)
        }
    return PairCounters(
        database=database,
        resource=resource,
        channels=[
            ChannelCounters(
                channel=entry["channel"],
                counters={name: int(entry["status"][name]) for name in COUNTERS},
                changes=changes.get(entry["channel"], {}),
                bar=stacked_bar(entry["status"]),
            )
            for entry in channels
        ],
        counted=moment(counted.count_started_at) if counted else None,
        count_duration=duration(counted.count_duration_ns) if counted else "",
        updated=moment(counted.updated_at) if counted else None,
    )


#: The history chart's windows: the picker's value, its label, how far back (None: all).
WINDOWS: dict[str, tuple[str, timedelta | None]] = {
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "90d": ("Last 90 days", timedelta(days=90)),
    "365d": ("Last year", timedelta(days=365)),
    "all": ("All kept", None),
}
DEFAULT_WINDOW = "30d"
#: Points a chart draws at most: the newest ones of the window.
MAX_POINTS = 1000


@dataclass(frozen=True)
class Series:
    channel: str
    times: list[datetime]
    subscribed: list[int]
    subscribed_sendable: list[int]
    #: Refreshes in the window; more than drawn when the window holds over MAX_POINTS.
    total: int


async def history_series(
    conn: AsyncConnection, account_id: int, database_id: int, resource_id: int, window: str, now: datetime
) -> list[Series]:
    """Per channel, ``subscribed`` and ``subscribed_sendable`` at each refresh in the window."""
    _, span = WINDOWS[window]
    page = await history.history_list(
        conn,
        account_id,
        database_id,
        resource_id,
        since=None if span is None else now - span,
        until=None,
        from_id=0,
        limit=MAX_POINTS,
        newest_first=True,
    )
    entries = list(reversed(page.items))
    channels = sorted({entry["channel"] for item in entries for entry in item.channels})
    series = []
    for channel in channels:
        points = [
            (item.count_started_at, found["status"])
            for item in entries
            for found in item.channels
            if found["channel"] == channel
        ]
        series.append(
            Series(
                channel,
                [at for at, _ in points],
                [int(status["subscribed"]) for _, status in points],
                [int(status["subscribed_sendable"]) for _, status in points],
                page.total_count,
            )
        )
    return series


@dataclass(frozen=True)
class DeliveryView:
    host: str
    type: str
    status: str
    attempts: int
    last_error: str


@dataclass(frozen=True)
class TaskView:
    id: str
    kind: str
    status: str
    progress: int
    error_text: str
    params: dict[str, Any]
    created: Moment
    started: Moment | None
    finished: Moment | None
    deliveries: list[DeliveryView]

    @property
    def is_active(self) -> bool:
        return self.status in (TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value)

    @property
    def duration(self) -> str:
        if self.started is None or self.finished is None:
            return ""
        return duration(int((self.finished.at - self.started.at).total_seconds() * 1e9))


def _delivery(row: Any) -> DeliveryView:
    # The host alone: a URL's path or query may hold a secret of the receiver's.
    host = urlsplit(row.url).hostname or ""
    return DeliveryView(host, row.type, row.status, row.attempts, row.last_error)


def _task(row: Any, deliveries: list[DeliveryView]) -> TaskView:
    return TaskView(
        id=row.id,
        kind=row.kind,
        status=row.status,
        progress=row.progress,
        error_text=row.error_text,
        params=dict(row.params),
        created=Moment(row.created_at),
        started=moment(row.started_at),
        finished=moment(row.finished_at),
        deliveries=deliveries,
    )


async def recent_tasks(conn: AsyncConnection, account_id: int) -> list[TaskView]:
    rows = await queries.tasks_recent(conn, account_id, RECENT_TASKS)
    by_task: dict[str, list[DeliveryView]] = {}
    for delivery in await queries.deliveries_of(conn, [row.id for row in rows]):
        by_task.setdefault(delivery.task_id, []).append(_delivery(delivery))
    return [_task(row, by_task.get(row.id, [])) for row in rows]


async def task(conn: AsyncConnection, account_id: int, task_id: str) -> TaskView:
    """The account's task; another account's gives the same NotFound as an unknown id."""
    row = await queries.task_of_account(conn, account_id, task_id)
    if row is None:
        raise NotFound(f"Task not found: {task_id}")
    deliveries = [_delivery(delivery) for delivery in await queries.deliveries_of(conn, [row.id])]
    return _task(row, deliveries)


async def active_refresh(conn: AsyncConnection, account_id: int, database_id: int, resource_id: int) -> TaskView | None:
    """The pair's refresh queued or running now, if there is one."""
    task_id = await task_active_for_key(conn, dedupe_key(database_id, resource_id))
    return None if task_id is None else await task(conn, account_id, task_id)
