"""schedules/add, list, get, update, delete (extensions): refreshes on a schedule."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator

from tally.capability import Capability
from tally.feedback.params import Feedback, OptionalFeedback
from tally.queue.registry import MaintenancePass
from tally.schedules import service
from tally.schedules.cron import InvalidSchedule, check_cron, check_timezone, next_dues
from tally.store.engine import read_transaction, write_transaction
from tally.store.types import utcnow
from tally.timefmt import rfc3339_ms
from tally.wire.listing import Listing
from tally.wire.methods import Call, Method
from tally.wire.params import Flag, NonNegativeInt, Params, PositiveInt, Text, page_limit

MAX_SCHEDULE_PAGE = 1000
#: Due times shown ahead in a schedule's answer.
PREVIEW = 3


def _cron(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_cron(value)
    except InvalidSchedule as error:
        raise ValueError(str(error)) from None


def _timezone(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return check_timezone(value)
    except InvalidSchedule as error:
        raise ValueError(str(error)) from None


_CRON = "5 fields: minute hour day-of-month month day-of-week, e.g. '0 6 * * 1-5'"
_TIMEZONE = "IANA time zone the cron is read in, e.g. Europe/Berlin"
_FEEDBACK = "Where each scheduled refresh is delivered, as in refresh_counters"


class ScheduleAdd(Params):
    db_id: PositiveInt = Field(description="Database id")
    resource_id: PositiveInt = Field(description="Resource id")
    cron: Text = Field(description=_CRON)
    timezone: Text = Field("UTC", description=_TIMEZONE)
    feedback: OptionalFeedback = Field(None, description=_FEEDBACK)

    _check_cron = field_validator("cron")(_cron)
    _check_timezone = field_validator("timezone")(_timezone)


class ScheduleRef(Params):
    id: PositiveInt = Field(description="Schedule id")


class ScheduleUpdate(ScheduleRef):
    cron: Text | None = Field(None, description=_CRON)
    timezone: Text | None = Field(None, description=_TIMEZONE)
    feedback: OptionalFeedback = Field(None, description=_FEEDBACK + "; null removes it")
    paused: Flag | None = Field(None, description="true pauses, false resumes (from the next due time)")

    _check_cron = field_validator("cron")(_cron)
    _check_timezone = field_validator("timezone")(_timezone)


class ScheduleList(Params):
    from_id: NonNegativeInt = Field(1, description="First id of the page")
    limit: Annotated[NonNegativeInt, page_limit(MAX_SCHEDULE_PAGE)] = Field(
        100, description=f"Schedules per page (at most {MAX_SCHEDULE_PAGE})"
    )


def _feedback(given: Feedback | None) -> service.ScheduleFeedback | None:
    return None if given is None else service.ScheduleFeedback(given.url, given.type)


def schedule_shown(schedule: service.Schedule) -> dict[str, Any]:
    upcoming = [] if schedule.paused else next_dues(schedule.cron, schedule.timezone, utcnow(), PREVIEW)
    feedback = schedule.feedback
    return {
        "id": schedule.id,
        "db_id": schedule.database_id,
        "resource_id": schedule.resource_id,
        "cron": schedule.cron,
        "timezone": schedule.timezone,
        "feedback": None if feedback is None else {"type": feedback.type, "url": feedback.url},
        "paused": schedule.paused,
        "next_run": "" if schedule.paused else rfc3339_ms(schedule.next_due_at),
        "upcoming": [rfc3339_ms(moment) for moment in upcoming],
        "last_run": rfc3339_ms(schedule.last_run_at),
        "last_task_id": schedule.last_task_id or "",
        "created": rfc3339_ms(schedule.created_at),
        "updated": rfc3339_ms(schedule.updated_at),
    }


async def schedule_add(call: Call, params: ScheduleAdd) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        schedule = await service.schedule_add(
            conn,
            call.account_id,
            params.db_id,
            params.resource_id,
            cron=params.cron,
            timezone=params.timezone,
            feedback=_feedback(params.feedback),
            now=utcnow(),
        )
    return schedule_shown(schedule)


async def schedule_get(call: Call, params: ScheduleRef) -> dict[str, Any]:
    async with read_transaction(call.runtime.engine) as conn:
        return schedule_shown(await service.schedule_require(conn, call.account_id, params.id))


async def schedule_list(call: Call, params: ScheduleList) -> Listing:
    async with read_transaction(call.runtime.engine) as conn:
        page = await service.schedule_list(conn, call.account_id, params.from_id, params.limit)
    return Listing([schedule_shown(item) for item in page.items], page.next_from_id, page.total_count)


async def schedule_update(call: Call, params: ScheduleUpdate) -> dict[str, Any]:
    changes = service.ScheduleChanges(
        cron=params.cron,
        timezone=params.timezone,
        paused=params.paused,
        set_feedback="feedback" in params.model_fields_set,
        feedback=_feedback(params.feedback),
    )
    async with write_transaction(call.runtime.engine) as conn:
        schedule = await service.schedule_update(conn, call.account_id, params.id, changes, utcnow())
    return schedule_shown(schedule)


async def schedule_delete(call: Call, params: ScheduleRef) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        await service.schedule_delete(conn, call.account_id, params.id)
    return {}


_SCHEDULE = {
    "id": 3,
    "db_id": 5,
    "resource_id": 24,
    "cron": "0 6 * * 1-5",
    "timezone": "Europe/Berlin",
    "feedback": None,
    "paused": False,
    "next_run": "2026-12-04T05:00:00.000Z",
    "upcoming": ["2026-12-04T05:00:00.000Z", "2026-12-07T05:00:00.000Z", "2026-12-08T05:00:00.000Z"],
    "last_run": "",
    "last_task_id": "",
    "created": "2026-12-03T10:00:00.000Z",
    "updated": "2026-12-03T10:00:00.000Z",
}

_PAUSED = _SCHEDULE | {"paused": True, "next_run": "", "upcoming": []}

METHODS = [
    Method("schedules/add", ScheduleAdd, schedule_add,
           "(ext) Refresh a database's counters for a resource on a cron schedule",
           description="Each due time queues one refresh_counters task (deduped with a refresh of the "
           "pair already running), however many processes run; after downtime, missed times run once. "
           "Due runs are queued by the workers' maintenance, within a third of TALLY_LEASE_SECONDS.",
           example={"db_id": 5, "resource_id": 24, "cron": "0 6 * * 1-5", "timezone": "Europe/Berlin"},
           response_example=_SCHEDULE),
    Method("schedules/list", ScheduleList, schedule_list, "(ext) The account's schedules",
           example={"from_id": 1, "limit": 100}, response_example=Listing([_SCHEDULE], 0, 1), writes=False),
    Method("schedules/get", ScheduleRef, schedule_get, "(ext) One schedule, with its next due times",
           example={"id": 3}, response_example=_SCHEDULE, writes=False),
    Method("schedules/update", ScheduleUpdate, schedule_update,
           "(ext) Change a schedule's cron, time zone or feedback, or pause and resume it",
           example={"id": 3, "paused": True}, response_example=_PAUSED),
    Method("schedules/delete", ScheduleRef, schedule_delete, "(ext) Delete a schedule",
           example={"id": 3}, response_example={}),
]  # fmt: skip

CAPABILITY = Capability(
    "schedules",
    methods=METHODS,
    maintenance=[MaintenancePass("scheduled refreshes", service.queue_due_runs)],
)
