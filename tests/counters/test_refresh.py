"""A refresh end to end: counts across chunk boundaries, its time texts, progress, in_progress."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.app import REGISTRY
from tally.config import Settings
from tally.queue.worker import Worker
from tally.store.engine import write_transaction
from tally.store.tables import counter_sets
from tests.counters.model import ADDRESSES, CHANNELS, STATUS_KEYS, STATUS_WORDS, Op, ProfileSpec, SubSpec
from tests.counters.scenario import Scenario
from tests.counters.support import api_with_chunk_size, refresh
from tests.helpers import Api, make_app

LAST_COUNT_TIME = re.compile(r"^counted at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ) in \S+$")
UPDATED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def random_specs(rng: random.Random, count: int) -> list[ProfileSpec]:
    """Profiles with several subscriptions on every channel, in every status and priority."""
    specs = []
    for _ in range(count):
        subs = []
        for _ in range(rng.randint(0, 6)):
            channel = rng.choice(CHANNELS)
            subs.append(
                SubSpec(
                    resource="main" if rng.random() < 0.85 else "other",
                    channel=channel,
                    address_index=rng.randrange(len(ADDRESSES[channel])),
                    status=rng.choice(STATUS_WORDS),
                    spelling=rng.randrange(4),
                    priority=rng.randint(0, 2),
                )
            )
        global_status = rng.choice([None, None, *STATUS_WORDS])
        specs.append(ProfileSpec(global_status, rng.randrange(4), tuple(subs)))
    return specs


def random_ops(rng: random.Random, count: int) -> list[Op]:
    kinds = ["change", "change", "reset", "delete_sub", "revive", "delete_profile"]
    result = []
    for _ in range(count):
        kind = rng.choice(kinds)
        status = rng.choice([None, *STATUS_WORDS]) if kind == "change" else None
        priority = rng.choice([None, 0, 1, 2]) if kind == "change" else None
        result.append(Op(kind, rng.randrange(50), rng.randrange(1000), status=status, priority=priority))
    return result


@pytest.mark.parametrize("chunk_size", [1, 2, 7])
async def test_refresh_small_chunks_counts_equal_reference(
    engine: AsyncEngine, settings: Settings, chunk_size: int
) -> None:
    rng = random.Random(chunk_size)
    async with api_with_chunk_size(engine, settings, chunk_size) as api:
        scenario = Scenario(api)
        await scenario.setup()
        # Batches of this database's profiles alternate with another database's, so that
        # their ids interleave.
        for _ in range(5):
            await scenario.add_profiles(random_specs(rng, 10))
            await scenario.add_noise(3)
        # The first refresh has no previous counts to cut its chunks by; the next ones do.
        await scenario.check()
        for op in random_ops(rng, 25):
            await scenario.apply(op)
        await scenario.check()
        for op in random_ops(rng, 25):
            await scenario.apply(op)
        await scenario.check()
        await scenario.check_effective_flags()


@pytest.mark.parametrize("chunk_size", [1, 2, 7])
async def test_refresh_small_chunks_time_texts_are_well_formed(
    engine: AsyncEngine, settings: Settings, chunk_size: int
) -> None:
    async with api_with_chunk_size(engine, settings, chunk_size) as api:
        scenario = Scenario(api)
        await scenario.setup()
        await scenario.add_profiles(random_specs(random.Random(7), 20))
        for _ in range(2):
            before = datetime.now(UTC).replace(microsecond=0)
            status = await scenario.check()
            after = datetime.now(UTC)
            [element] = status["result"]
            match = LAST_COUNT_TIME.match(element["last_count_time"])
            assert match, element["last_count_time"]
            assert UPDATED.match(element["updated"]), element["updated"]
            counted_at = datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            updated = datetime.strptime(element["updated"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            assert before <= counted_at <= updated <= after
            assert element["in_progress"] is False
            assert element["refresh_task_id"] == ""


async def test_refresh_progress_never_decreases_and_ends_at_100(engine: AsyncEngine, settings: Settings) -> None:
    async with api_with_chunk_size(engine, settings, 1) as api:
        scenario = Scenario(api)
        await scenario.setup()
        await scenario.add_profiles(random_specs(random.Random(3), 40))
        await scenario.check()
        task = await api.ok(
            "databases/refresh_counters", {"id": scenario.database_id, "resource_id": scenario.resource_ids["main"]}
        )
        seen: list[int] = []
        while True:
            status = await api.ok("tasks/status", {"task_id": task["task_id"]})
            seen.append(status["progress"])
            assert 0 <= status["progress"] <= 100
            if status["status"] != "completed":
                assert status["progress"] < 100
                assert status["result"] is None
            if status["status"] in ("completed", "error"):
                break
            await asyncio.sleep(0)
        assert status["status"] == "completed", status
        assert seen == sorted(seen)
        assert seen[-1] == 100


@asynccontextmanager
async def api_without_worker(engine: AsyncEngine, settings: Settings) -> AsyncIterator[tuple[Api, Worker]]:
    """An app that queues tasks, and a worker that the test runs by hand."""
    worker = Worker(engine, settings, REGISTRY)
    async with make_app(settings, embedded_worker=False) as client:
        yield await Api.for_new_account(client, engine), worker


async def test_refresh_in_progress_names_the_queued_refresh(engine: AsyncEngine, settings: Settings) -> None:
    async with api_without_worker(engine, settings) as (api, worker):
        database_id, resource_id = await api.setup_catalog()
        ids = {"id": database_id, "resource_id": resource_id}
        first = (await api.ok("databases/refresh_counters", ids))["task_id"]
        queued = await api.ok("tasks/status", {"task_id": first})
        assert (queued["status"], queued["progress"], queued["result"]) == ("queued", 0, None)
        assert await worker.run_once()
        done = await api.ok("tasks/status", {"task_id": first})
        assert done["status"] == "completed"
        assert (done["result"][0]["in_progress"], done["result"][0]["refresh_task_id"]) == (False, "")

        second = (await api.ok("resources/refresh_counters", {"id": resource_id, "list_id": database_id}))["task_id"]
        assert second != first
        assert (await api.ok("databases/refresh_counters", ids))["task_id"] == second
        shown = await api.ok("tasks/status", {"task_id": first})
        assert (shown["result"][0]["in_progress"], shown["result"][0]["refresh_task_id"]) == (True, second)

        assert await worker.run_once()
        again = await api.ok("tasks/status", {"task_id": first})
        assert (again["result"][0]["in_progress"], again["result"][0]["refresh_task_id"]) == (False, "")
        latest = await api.ok("tasks/status", {"task_id": second})
        assert (latest["result"][0]["in_progress"], latest["result"][0]["refresh_task_id"]) == (False, "")


async def test_refresh_empty_database_counts_zero_profiles(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["push"])
    status = await refresh(api, database_id, resource_id)
    [element] = status["result"]
    assert element["total_count"] == 0
    assert element["channels"] == [{"channel": "push", "status": dict.fromkeys(STATUS_KEYS, 0)}]
    assert LAST_COUNT_TIME.match(element["last_count_time"])


async def test_refresh_deleted_profiles_leave_every_count(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email"])
    sub = {"resource_id": resource_id, "channel": "email", "email": "ann@example.org"}
    items: list[dict[str, Any]] = [{"subscriptions": [sub]} for _ in range(4)]
    results = await api.ok("profiles/add_batch", {"db_id": database_id, "data": items})
    for result in results[:3]:
        await api.ok("profiles/delete", {"profile_id": result["profile_id"]})
    [element] = (await refresh(api, database_id, resource_id))["result"]
    assert element["total_count"] == 1
    status = element["channels"][0]["status"]
    assert (status["all"], status["subscribed"], status["subscribed_sendable"]) == (1, 1, 1)


async def test_refresh_after_a_stored_set_lacks_a_status_word(api: Api, engine: AsyncEngine) -> None:
    # A counter set stored before a status existed (or edited by hand) has no count for it:
    # the next refresh weighs it as 0 instead of failing with KeyError (issue 7, defect 4).
    database_id, resource_id = await api.setup_catalog(["email"])
    await api.ok(
        "profiles/add",
        {
            "db_id": database_id,
            "data": {"subscriptions": [{"resource_id": resource_id, "channel": "email", "email": "a@b.org"}]},
        },
    )
    await refresh(api, database_id, resource_id)
    async with write_transaction(engine) as conn:
        [channels] = (await conn.execute(select(counter_sets.c.channels))).scalars()
        for entry in channels:
            del entry["status"]["invalid"]
        await conn.execute(update(counter_sets).values(channels=channels))
    status = await refresh(api, database_id, resource_id)
    [email] = status["result"][0]["channels"]
    assert (email["status"]["subscribed"], email["status"]["invalid"]) == (1, 0)
