"""The live-profile count of a database: insert-only deltas, folded by a maintenance pass."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.app import REGISTRY
from tally.config import Settings
from tally.demo import demo_profiles
from tally.profiles.service import profiles_add
from tally.queue.worker import Worker
from tally.store.engine import read_transaction
from tally.store.tables import databases, profile_count_deltas
from tests.helpers import Api, writes_do_not_wait


async def _deltas(engine: AsyncEngine) -> int:
    async with read_transaction(engine) as conn:
        return int(await conn.scalar(select(func.count()).select_from(profile_count_deltas)) or 0)


async def test_count_follows_adds_and_deletes_and_survives_the_fold(
    api: Api, engine: AsyncEngine, settings: Settings
) -> None:
    database_id, _ = await api.setup_catalog()
    await api.ok(
        "profiles/add_batch", {"db_id": database_id, "data": [{"email": f"p{i}@example.org"} for i in range(3)]}
    )
    added = await api.ok("profiles/add", {"db_id": database_id, "data": {"email": "last@example.org"}})
    await api.ok("profiles/delete", {"profile_id": added["profile_id"]})
    assert (await api.ok("databases/get", {"id": database_id}))["profiles_count"] == 3
    assert await _deltas(engine) == 3  # one row per write, none updated

    await Worker(engine, settings, REGISTRY).maintenance.round()
    assert await _deltas(engine) == 0
    async with read_transaction(engine) as conn:
        folded = await conn.scalar(select(databases.c.live_profiles).where(databases.c.id == database_id))
    assert folded == 3
    assert (await api.ok("databases/get", {"id": database_id}))["profiles_count"] == 3
    [listed] = await api.ok("databases/list", {})
    assert listed["profiles_count"] == 3


async def test_concurrent_adds_to_one_database_do_not_wait_for_each_other(
    api: Api, engine: AsyncEngine, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time by design")
    database_id, resource_id = await api.setup_catalog()
    # An UPDATE of the database row would make the second wait for the first's commit.
    await writes_do_not_wait(
        engine,
        lambda conn: profiles_add(conn, api.account_id, database_id, list(demo_profiles(10, resource_id))),
        lambda conn: profiles_add(conn, api.account_id, database_id, list(demo_profiles(5, resource_id, seed=7))),
    )
    assert (await api.ok("databases/get", {"id": database_id}))["profiles_count"] == 15
