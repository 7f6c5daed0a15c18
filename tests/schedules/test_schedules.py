"""schedules/*: the methods, and the pass that queues due refreshes (with a given clock)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.app import build_worker
from tally.config import Settings
from tally.counters.refresh import KIND as REFRESH
from tally.schedules import service
from tally.schedules.cron import next_dues
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import schedules, tasks
from tests.helpers import Api, make_app
from tests.wire.support import envelope, post_raw

#: Simulated time, years ahead of the real clock: the embedded worker's own maintenance
#: (on the real clock) never finds these schedules due.
T0 = datetime(2031, 1, 1, 0, 0, 30, tzinfo=UTC)


@pytest.fixture
async def api_no_worker(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Api]:
    async with make_app(settings, embedded_worker=False) as client:
        yield await Api.for_new_account(client, engine)


async def test_a_schedule_added_read_listed_changed_and_deleted(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    body = {"db_id": database_id, "resource_id": resource_id, "cron": "0  6 * * 1-5", "timezone": "Europe/Berlin"}
    added = await api.ok("schedules/add", body)
    assert (added["db_id"], added["resource_id"], added["cron"], added["timezone"]) == (
        database_id,
        resource_id,
        "0 6 * * 1-5",
        "Europe/Berlin",
    )
    assert added["paused"] is False and added["feedback"] is None and added["last_task_id"] == ""
    assert added["next_run"] == added["upcoming"][0] and len(added["upcoming"]) == 3
    assert all(moment.endswith(":00:00.000Z") for moment in added["upcoming"])  # 06:00 Berlin, whole hours in UTC
    assert await api.ok("schedules/get", {"id": added["id"]}) == added
    listed = await api.call("schedules/list", {})
    assert (listed["data"], listed["total_count"]) == ([added], 1)

    feedback = {"type": "json", "url": "https://hooks.example.org/tally"}
    paused = await api.ok("schedules/update", {"id": added["id"], "paused": True, "feedback": feedback})
    assert (paused["paused"], paused["next_run"], paused["upcoming"]) == (True, "", [])
    assert paused["feedback"] == {"type": "JSON", "url": "https://hooks.example.org/tally"}
    changed = await api.ok("schedules/update", {"id": added["id"], "paused": False, "cron": "*/15 * * * *"})
    assert (changed["paused"], changed["cron"], changed["feedback"]) == (False, "*/15 * * * *", paused["feedback"])
    assert (await api.ok("schedules/update", {"id": added["id"], "feedback": None}))["feedback"] is None

    assert await api.ok("schedules/delete", {"id": added["id"]}) == {}
    assert (await api.call("schedules/get", {"id": added["id"]}))["error"] == 404


async def test_schedules_in_xml(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    inner = f"<db_id>{database_id}</db_id><resource_id>{resource_id}</resource_id><cron>0 6 * * *</cron>"
    body = f"<xml><token>{api.token}</token><format>xml</format>{inner}</xml>"
    added = envelope(await post_raw(api.client, "schedules/add", body, "application/xml"))["data"]
    assert (added["cron"], added["timezone"], added["paused"]) == ("0 6 * * *", "UTC", "false")
    as_json = await api.ok("schedules/get", {"id": int(added["id"])})
    assert (as_json["next_run"], as_json["upcoming"]) == (added["next_run"], added["upcoming"])


async def test_bad_schedules_are_refused_naming_the_field(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog()
    pair = {"db_id": database_id, "resource_id": resource_id}
    for body, field in (
        (pair | {"cron": "61 * * * *"}, "cron"),
        (pair | {"cron": "* * * *"}, "cron"),
        (pair | {"cron": "@daily"}, "cron"),
        (pair | {"cron": "0 6 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        (pair | {"cron": "0 6 * * *", "timezone": "../../etc/passwd"}, "timezone"),
        (pair | {"cron": "0 6 * * *", "feedback": {"type": "JSON", "url": "ftp://x"}}, "feedback"),
        (pair, "cron"),
    ):
        refused = await api.call("schedules/add", body)
        assert refused["error"] == 400, refused
        assert field in refused["error_text"], refused
    added = await api.ok("schedules/add", pair | {"cron": "0 6 * * *"})
    refused = await api.call("schedules/update", {"id": added["id"], "timezone": "Nowhere"})
    assert refused["error"] == 400 and "timezone" in refused["error_text"], refused

    other = await Api.for_new_account(api.client, engine)
    assert (await other.call("schedules/add", pair | {"cron": "0 6 * * *"}))["error"] == 404
    for method in ("schedules/get", "schedules/update", "schedules/delete"):
        assert (await other.call(method, {"id": added["id"]}))["error"] == 404, method
    assert (await other.call("schedules/list", {}))["data"] == []
    assert (await api.call("schedules/add", pair | {"db_id": database_id + 99, "cron": "0 6 * * *"}))["error"] == 404


async def _schedule(engine: AsyncEngine, api: Api, cron: str, timezone: str = "UTC") -> tuple[int, int, int]:
    database_id, resource_id = await api.setup_catalog()
    async with write_transaction(engine) as conn:
        schedule = await service.schedule_add(
            conn, api.account_id, database_id, resource_id, cron=cron, timezone=timezone, feedback=None, now=T0
        )
    return schedule.id, database_id, resource_id


async def _pass(engine: AsyncEngine, settings: Settings, now: datetime, workers: int = 1) -> None:
    """The schedules' maintenance pass, run by ``workers`` at once (each its own transaction)."""

    async def one() -> None:
        async with write_transaction(engine) as conn:
            await service.queue_due_runs(conn, now, settings)

    await asyncio.gather(*(one() for _ in range(workers)))


async def _refresh_tasks(engine: AsyncEngine) -> list[Any]:
    async with read_transaction(engine) as conn:
        return list(await conn.execute(select(tasks).where(tasks.c.kind == REFRESH).order_by(tasks.c.created_at)))


async def test_each_due_time_runs_once_however_many_workers_pass(
    api_no_worker: Api, engine: AsyncEngine, settings: Settings
) -> None:
    """Every minute, ten simulated minutes, three workers passing each minute: ten tasks."""
    api = api_no_worker
    await _schedule(engine, api, "* * * * *")
    worker = build_worker(engine, settings)
    for minute in range(1, 11):
        await _pass(engine, settings, T0 + timedelta(minutes=minute), workers=3)
        await _pass(engine, settings, T0 + timedelta(minutes=minute, seconds=20), workers=3)  # same minute again
        claimed = await worker.claim()  # the refresh runs before the next due time
        assert claimed is not None
        await worker.execute(claimed)
    refreshes = await _refresh_tasks(engine)
    assert len(refreshes) == 10
    assert {row.status for row in refreshes} == {"completed"}
    status = await api.ok("tasks/status", {"task_id": refreshes[-1].id})  # the owner's token reads it
    assert status["status"] == "completed"


async def test_missed_due_times_run_once_after_downtime(api: Api, engine: AsyncEngine, settings: Settings) -> None:
    schedule_id, _, _ = await _schedule(engine, api, "* * * * *")
    back = T0 + timedelta(hours=3, seconds=5)  # 180 due times missed
    await _pass(engine, settings, back, workers=2)
    assert len(await _refresh_tasks(engine)) == 1
    async with read_transaction(engine) as conn:
        due = await conn.scalar(select(schedules.c.next_due_at).where(schedules.c.id == schedule_id))
    assert due == datetime(2031, 1, 1, 3, 1, tzinfo=UTC)  # the first due time after the return


async def test_a_due_run_joins_the_refresh_already_queued(
    api_no_worker: Api, engine: AsyncEngine, settings: Settings
) -> None:
    api = api_no_worker
    schedule_id, database_id, resource_id = await _schedule(engine, api, "0 * * * *")
    queued = await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})
    await _pass(engine, settings, T0 + timedelta(hours=1))
    assert [row.id for row in await _refresh_tasks(engine)] == [queued["task_id"]]
    assert (await api.ok("schedules/get", {"id": schedule_id}))["last_task_id"] == queued["task_id"]


async def test_a_paused_schedule_does_not_run_and_resumes_without_the_missed_times(
    api: Api, engine: AsyncEngine, settings: Settings
) -> None:
    schedule_id, _, _ = await _schedule(engine, api, "* * * * *")
    await api.ok("schedules/update", {"id": schedule_id, "paused": True})
    await _pass(engine, settings, T0 + timedelta(minutes=5))
    assert await _refresh_tasks(engine) == []
    resumed = await api.ok("schedules/update", {"id": schedule_id, "paused": False})
    # Resumed now (the real clock): its next run is the next minute from now, not T0's.
    assert datetime.fromisoformat(resumed["next_run"].replace("Z", "+00:00")) < T0
    async with read_transaction(engine) as conn:
        count = await conn.scalar(select(func.count()).select_from(schedules).where(schedules.c.paused.is_(False)))
    assert count == 1


async def test_deleting_the_database_or_the_resource_deletes_its_schedules(api: Api, engine: AsyncEngine) -> None:
    first, database_id, _ = await _schedule(engine, api, "0 6 * * *")
    second, _, resource_id = await _schedule(engine, api, "0 7 * * *")
    await api.ok("databases/delete", {"id": database_id})
    await api.ok("resources/delete", {"id": resource_id})
    for schedule_id in (first, second):
        assert (await api.call("schedules/get", {"id": schedule_id}))["error"] == 404


def test_the_cron_is_read_in_the_schedules_time_zone_across_daylight_saving() -> None:
    """02:30 Berlin: 01:30 UTC in winter, 00:30 in summer; the night 02:30 does not exist the
    run comes at 03:00 (01:00 UTC), and the night it comes twice it runs once."""
    spring = next_dues("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 27, 12, tzinfo=UTC), 3)
    assert spring == [
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]
    autumn = next_dues("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=UTC), 2)
    assert autumn == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 26, 1, 30, tzinfo=UTC)]


async def test_list_update_and_delete_in_xml(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    added = await api.ok("schedules/add", {"db_id": database_id, "resource_id": resource_id, "cron": "0 6 * * *"})

    async def xml(method: str, inner: str) -> Any:
        body = f"<xml><token>{api.token}</token><format>xml</format>{inner}</xml>"
        return envelope(await post_raw(api.client, method, body, "application/xml"))

    listed = await xml("schedules/list", "<limit>10</limit>")
    # One <data> element per schedule; a generic parse cannot tell one from a list of one.
    assert listed["data"]["id"] == str(added["id"]) and listed["total_count"] == "1"
    feedback = "<feedback><type>XML</type><url>https://hooks.example.org/t</url></feedback>"
    updated = (await xml("schedules/update", f"<id>{added['id']}</id><paused>true</paused>{feedback}"))["data"]
    assert (updated["paused"], updated["feedback"]["type"], updated["next_run"]) == ("true", "XML", "")
    assert (await xml("schedules/delete", f"<id>{added['id']}</id>"))["error"] == 0
    assert (await api.call("schedules/get", {"id": added["id"]}))["error"] == 404


async def test_a_due_run_carries_the_schedules_feedback(
    api_no_worker: Api, engine: AsyncEngine, settings: Settings
) -> None:
    api = api_no_worker
    database_id, resource_id = await api.setup_catalog()
    async with write_transaction(engine) as conn:
        await service.schedule_add(
            conn,
            api.account_id,
            database_id,
            resource_id,
            cron="0 * * * *",
            timezone="UTC",
            feedback=service.ScheduleFeedback("https://hooks.example.org/t", "JSON"),
            now=T0,
        )
    await _pass(engine, settings, T0 + timedelta(hours=1))
    [run] = await _refresh_tasks(engine)
    status = await api.ok("tasks/status", {"task_id": run.id})
    assert [(d["url"], d["type"], d["status"]) for d in status["feedback"]] == [
        ("https://hooks.example.org/t", "JSON", "pending")
    ]
