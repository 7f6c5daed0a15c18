"""Reconciliation: a recount of each pair now and then finds, logs and corrects a difference."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.catalog.channels import CHANNEL_CODES
from tally.config import Settings
from tally.counters import reconcile
from tally.counters.queries import maintained_counts_add
from tally.profiles.statuses import Status
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import count_reconciliations, tasks
from tally.store.types import utcnow
from tests.counters.support import refresh
from tests.counters.test_maintained import add_subscribed, email_status
from tests.helpers import Api

DAY = timedelta(hours=25)


async def queue_due(engine: AsyncEngine, settings: Settings, later: timedelta) -> list[str]:
    """Run the pass as if ``later`` had passed since every check (the checks are moved back,
    since tasks are due when their time comes); the ids of the reconcile tasks then."""
    async with write_transaction(engine) as conn:
        checks = count_reconciliations.c
        for row in (await conn.execute(select(count_reconciliations))).all():
            pair = (checks.database_id == row.database_id, checks.resource_id == row.resource_id)
            await conn.execute(update(count_reconciliations).where(*pair).values(checked_at=row.checked_at - later))
        await reconcile.queue_due(conn, utcnow(), settings)
    async with read_transaction(engine) as conn:
        rows = await conn.execute(select(tasks.c.id).where(tasks.c.kind == reconcile.KIND).order_by(tasks.c.created_at))
        return [row.id for row in rows]


async def planted(api: Api, engine: AsyncEngine, settings: Settings, extra: int) -> tuple[int, int]:
    """Three sendable subscriptions, maintained counts off by ``extra``, the pair seen once."""
    database_id, resource_id = await api.setup_catalog()
    await add_subscribed(api, database_id, resource_id, 3)
    assert await queue_due(engine, settings, timedelta(0)) == []  # first seen: due a day later
    if extra:
        async with write_transaction(engine) as conn:
            key = (CHANNEL_CODES["email"], int(Status.SUBSCRIBED), True, extra)
            await maintained_counts_add(conn, database_id, resource_id, [key])
    return database_id, resource_id


async def test_a_planted_difference_is_logged_and_corrected(
    api: Api, engine: AsyncEngine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    database_id, resource_id = await planted(api, engine, settings, 40)
    assert email_status(await refresh(api, database_id, resource_id))["subscribed_sendable"] == 43
    with caplog.at_level(logging.ERROR, logger="tally.counters"):
        [task_id] = await queue_due(engine, settings, DAY)
        status = await api.wait_task(task_id)
    assert status["status"] == "completed", status
    assert status["result"]["differences"] == [
        {"channel": "email", "status": "subscribed", "sendable": True, "maintained": 43, "recounted": 3}
    ]
    [record] = [record for record in caplog.records if record.levelno == logging.ERROR]
    message = record.getMessage()
    assert f"database {database_id}, resource {resource_id}" in message
    assert "email subscribed sendable: 43 maintained, 3 recounted; corrected" in message
    counts = email_status(await refresh(api, database_id, resource_id))
    assert (counts["subscribed"], counts["subscribed_sendable"]) == (3, 3)


async def test_agreeing_counts_are_left_alone_and_logged_at_no_error(
    api: Api, engine: AsyncEngine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    database_id, resource_id = await planted(api, engine, settings, 0)
    with caplog.at_level(logging.ERROR, logger="tally.counters"):
        [task_id] = await queue_due(engine, settings, DAY)
        status = await api.wait_task(task_id)
    assert (status["status"], status["result"]["differences"]) == ("completed", [])
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []
    assert email_status(await refresh(api, database_id, resource_id))["subscribed_sendable"] == 3


async def test_each_pair_is_checked_once_per_interval(api: Api, engine: AsyncEngine, settings: Settings) -> None:
    await planted(api, engine, settings, 0)
    [first] = await queue_due(engine, settings, DAY)
    assert await queue_due(engine, settings, timedelta(0)) == [first]  # noted as checked: not due again
    assert (await api.wait_task(first))["status"] == "completed"
    assert await queue_due(engine, settings, timedelta(hours=23)) == [first]
    [_, second] = await queue_due(engine, settings, timedelta(hours=2))  # 25 hours since the check
    assert (await api.wait_task(second))["status"] == "completed"


async def test_reconcile_hours_zero_turns_it_off(api: Api, engine: AsyncEngine, settings: Settings) -> None:
    await planted(api, engine, settings, 5)
    assert await queue_due(engine, replace(settings, reconcile_hours=0), 10 * DAY) == []
