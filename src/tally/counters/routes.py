"""databases/refresh_counters, resources/refresh_counters, databases/get_counters."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, model_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.capability import Capability
from tally.config import Settings
from tally.counters import history, queries, reconcile, refresh
from tally.feedback.params import Feedback, OptionalFeedback
from tally.feedback.queries import delivery_register
from tally.queue.execution import TaskKind
from tally.queue.queries import Task
from tally.queue.registry import MaintenancePass
from tally.store.engine import read_statements, read_transaction, write_transaction
from tally.store.types import utcnow
from tally.timefmt import rfc3339_ms
from tally.wire.listing import Listing
from tally.wire.methods import Call, Method
from tally.wire.params import Flag, Moment, NonNegativeInt, Order, Params, PositiveInt, Text, page_limit


class DatabaseCounters(Params):
    id: PositiveInt = Field(description="Database id")
    resource_id: PositiveInt = Field(description="Resource id")


_RECOUNT = (
    "(ext) Count the subscriptions themselves, chunk by chunk, instead of reading the counts "
    "every write keeps: the proof of those counts, slower as the database grows"
)


class DatabaseRefresh(DatabaseCounters):
    feedback: OptionalFeedback = Field(None, description="Where the finished task is delivered")
    recount: Flag = Field(False, description=_RECOUNT)


class ResourceRefresh(Params):
    id: PositiveInt = Field(description="Resource id")
    list_id: PositiveInt = Field(description="Database id")
    feedback: OptionalFeedback = Field(None, description="Where the finished task is delivered")
    recount: Flag = Field(False, description=_RECOUNT)


async def _start(
    call: Call, database_id: int, resource_id: int, feedback: Feedback | None, recount: bool
) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        task_id = await refresh.refresh_start(conn, call.account_id, database_id, resource_id, recount=recount)
        if feedback is not None:
            await delivery_register(
                conn, task_id=task_id, account_id=call.account_id, url=feedback.url, type_=feedback.type, now=utcnow()
            )
    call.runtime.task_queued.set()
    return {"task_id": task_id}


async def database_refresh(call: Call, params: DatabaseRefresh) -> dict[str, Any]:
    return await _start(call, params.id, params.resource_id, params.feedback, params.recount)


async def resource_refresh(call: Call, params: ResourceRefresh) -> dict[str, Any]:
    return await _start(call, params.list_id, params.id, params.feedback, params.recount)


async def database_counters(call: Call, params: DatabaseCounters) -> list[dict[str, Any]]:
    # The pair's checks and its stored counters need no common snapshot: a pair unlinked
    # between them answers as it stood a moment before.
    async with read_statements(call.runtime.engine) as conn:
        return await refresh.counters_get(conn, call.account_id, params.id, params.resource_id)


HISTORY_PAGE_LIMIT, MAX_HISTORY_PAGE_LIMIT = 100, 1000


class CountersHistory(DatabaseCounters):
    since: Moment | None = Field(None, alias="from", description="(ext) Counted at or after this RFC 3339 time")
    until: Moment | None = Field(None, alias="to", description="(ext) Counted before this RFC 3339 time")
    from_id: NonNegativeInt = Field(0, description="First history id of the page (0: from the start of the order)")
    limit: Annotated[NonNegativeInt, page_limit(MAX_HISTORY_PAGE_LIMIT)] = Field(
        HISTORY_PAGE_LIMIT, description=f"Entries per page (at most {MAX_HISTORY_PAGE_LIMIT})"
    )
    order: Order = Field("desc", description="desc: newest first; asc: oldest first")


async def counters_history(call: Call, params: CountersHistory) -> Listing:
    async with read_transaction(call.runtime.engine) as conn:
        page = await history.history_list(
            conn,
            call.account_id,
            params.id,
            params.resource_id,
            since=params.since,
            until=params.until,
            from_id=params.from_id,
            limit=params.limit,
            newest_first=params.order == "desc",
        )
    items = [_history_element(params.resource_id, entry) for entry in page.items]
    return Listing(items, next_from_id=page.next_from_id, total_count=page.total_count)


def _history_element(resource_id: int, entry: history.HistoryEntry) -> dict[str, Any]:
    """The seed's result element as it was at that refresh, with its task id and changes."""
    element = refresh.result_element(
        resource_id,
        entry.channels,
        entry.total_count,
        entry.count_started_at,
        entry.count_duration_ns,
        entry.updated_at,
    )
    element["task_id"] = entry.task_id
    if entry.previous_channels is not None:
        element["changes"] = history.channel_changes(entry.previous_channels, entry.channels)
    return element


class CountersDiff(DatabaseCounters):
    before_task_id: Text | None = Field(None, description="(ext) The refresh this task counted")
    before_time: Moment | None = Field(None, description="(ext) Else the last refresh counted by this RFC 3339 time")
    after_task_id: Text | None = Field(None, description="(ext) The refresh this task counted")
    after_time: Moment | None = Field(None, description="(ext) Else the last refresh counted by this RFC 3339 time")

    @model_validator(mode="after")
    def _one_way_per_side(self) -> CountersDiff:
        for side in ("before", "after"):
            if getattr(self, f"{side}_task_id") is not None and getattr(self, f"{side}_time") is not None:
                raise ValueError(f"give {side}_task_id or {side}_time, not both")
        return self


async def counters_diff(call: Call, params: CountersDiff) -> dict[str, Any]:
    before = history.Point(params.before_task_id, params.before_time)
    after = history.Point(params.after_task_id, params.after_time)
    async with read_transaction(call.runtime.engine) as conn:
        earlier, later = await history.history_diff(conn, call.account_id, params.id, params.resource_id, before, after)
    return {
        "resource_id": params.resource_id,
        "before": {"task_id": earlier.task_id, "updated": rfc3339_ms(earlier.updated_at)},
        "after": {"task_id": later.task_id, "updated": rfc3339_ms(later.updated_at)},
        "channels": history.counter_diff(earlier.channels, later.channels),
    }


async def _present(conn: AsyncConnection, task: Task) -> Any:
    return await refresh.present_result(conn, task.params["database_id"], task.result)


REFRESH_KIND = TaskKind(refresh.KIND, refresh.run_refresh, _present)
RECONCILE_KIND = TaskKind(reconcile.KIND, reconcile.run_reconcile)

_EMAIL = refresh.channel_counters("email", None, 1336)
_TASK = {"task_id": "6908adeb-346e-4f5e-9f68-df062bf795cf"}
_DIFF = {
    "resource_id": 24,
    "before": {"task_id": "0f1e2d3c-4b5a-4968-8776-655443322110", "updated": "2026-12-02T10:00:00.004Z"},
    "after": {"task_id": "6908adeb-346e-4f5e-9f68-df062bf795cf", "updated": "2026-12-03T10:00:00.004Z"},
    "channels": [{"channel": "email", "status": {"subscribed": {"before": 915, "after": 925, "change": 10}}}],
}
_HISTORY = {
    "channels": [_EMAIL],
    "in_progress": False,
    "last_count_time": "counted at 2026-12-03T10:00:00Z in 2.1ms",
    "refresh_task_id": "",
    "resource_id": 24,
    "total_count": 1336,
    "updated": "2026-12-03T10:00:00.004Z",
    "task_id": "6908adeb-346e-4f5e-9f68-df062bf795cf",
    "changes": [{"channel": "email", "status": {"all": 12, "subscribed": 10, "unsubscribed": 2}}],
}

METHODS = [
    Method("databases/refresh_counters", DatabaseRefresh, database_refresh,
           "Start a recount of a database's subscriptions to one resource",
           description="Answers at once with a task id; follow it with tasks/status. While a "
           "refresh of the same database and resource is queued or running, its id is returned. "
           "The counts come from those every write keeps; recount: true counts the rows instead.",
           example={"id": 5, "resource_id": 24}, response_example=_TASK, writes=False),
    Method("resources/refresh_counters", ResourceRefresh, resource_refresh,
           "Start the same recount from the resource side",
           example={"id": 24, "list_id": 5}, response_example=_TASK, writes=False),
    Method("databases/get_counters", DatabaseCounters, database_counters,
           "The counters stored by the last finished refresh, without counting",
           example={"id": 5, "resource_id": 24}, response_example=[_EMAIL], writes=False),
    Method("databases/counters_history", CountersHistory, counters_history,
           "(ext) Every finished refresh of a database and resource, with what changed",
           description="Newest first (order: asc for oldest first), paged by from_id and limit, "
           "optionally within from (inclusive) and to (exclusive). Each entry is a refresh result "
           "element with the task_id that counted it and, but for the first, changes: per channel "
           "and counter, the difference from the refresh before it. Kept TALLY_HISTORY_DAYS days.",
           example={"id": 5, "resource_id": 24, "from": "2026-12-01T00:00:00Z", "limit": 10},
           response_example=Listing([_HISTORY], next_from_id=0, total_count=1), writes=False),
    Method("databases/counters_diff", CountersDiff, counters_diff,
           "(ext) Two refreshes of a database and resource side by side: each counter before, after, change",
           description="Each side is the refresh a task counted (before_task_id, after_task_id) or the "
           "last one counted by a time (before_time, after_time). By default after is the last refresh "
           "and before the one before it.",
           example={"id": 5, "resource_id": 24}, response_example=_DIFF, writes=False),
]  # fmt: skip


async def _fold_maintained_counts(conn: AsyncConnection, now: datetime, settings: Settings) -> None:
    await queries.maintained_counts_fold(conn)


CAPABILITY = Capability(
    "counters",
    methods=METHODS,
    task_kinds=[REFRESH_KIND, RECONCILE_KIND],
    maintenance=[
        MaintenancePass("maintained counts", _fold_maintained_counts),
        MaintenancePass("counters history purge", history.purge_history),
        MaintenancePass("count reconciliation", reconcile.queue_due),
    ],
)
