"""The counts every write keeps (migration 0012's triggers), what refresh_counters reads.

Every refresh in the scenario tests (tests/counters/scenario.py) already checks both the
maintained counts and the recount against the reference model; these tests cover the rest:
that a refresh reads the maintained counts (and a recount does not), the fold, the flag's
wire forms, and concurrent writers on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.app import METHODS, REGISTRY
from tally.catalog.channels import CHANNEL_CODES
from tally.config import Settings
from tally.counters.queries import maintained_counts, maintained_counts_fold
from tally.demo import demo_profiles
from tally.profiles.service import profile_delete, profiles_add
from tally.profiles.statuses import Status
from tally.profiles.upsert import profiles_import
from tally.queue.worker import Worker
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import subscription_counts, tasks
from tally.wire.params import validate_params
from tests.counters.support import refresh
from tests.helpers import Api, Write, make_app, writes_do_not_wait
from tests.profiles.test_import import email_sub
from tests.profiles.test_xml import post_xml
from tests.wire.support import assert_error


def email_status(status: dict[str, Any]) -> dict[str, int]:
    [element] = status["result"]
    [email] = [entry for entry in element["channels"] if entry["channel"] == "email"]
    counts: dict[str, int] = email["status"]
    return counts


async def add_subscribed(api: Api, database_id: int, resource_id: int, count: int, start: int = 0) -> list[str]:
    items = [
        {
            "email": f"u{n}@example.org",
            "subscriptions": [{"resource_id": resource_id, "channel": "email", "email": f"u{n}@example.org"}],
        }
        for n in range(start, start + count)
    ]
    results = await api.ok("profiles/add_batch", {"db_id": database_id, "data": items})
    return [result["profile_id"] for result in results]


async def rows_per_key(engine: AsyncEngine, database_id: int) -> Counter[tuple[Any, ...]]:
    counts = subscription_counts.c
    async with read_transaction(engine) as conn:
        rows = await conn.execute(
            select(counts.resource_id, counts.channel, counts.status, counts.is_sendable).where(
                counts.database_id == database_id
            )
        )
        return Counter(tuple(row) for row in rows)


async def test_refresh_reads_the_maintained_counts_and_a_recount_the_rows(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog()
    await add_subscribed(api, database_id, resource_id, 3)
    assert email_status(await refresh(api, database_id, resource_id))["subscribed"] == 3
    # Plant a difference the writes did not make: only a refresh that reads the counts sees it.
    counts = subscription_counts.c
    key = (counts.database_id == database_id, counts.channel == CHANNEL_CODES["email"], counts.status == 0)
    async with write_transaction(engine) as conn:
        one_row = select(func.min(counts.id)).where(*key).scalar_subquery()
        await conn.execute(update(subscription_counts).where(counts.id == one_row).values(delta=counts.delta + 40))
    assert email_status(await refresh(api, database_id, resource_id))["subscribed"] == 43
    recounted = email_status(await refresh(api, database_id, resource_id, recount=True))
    assert (recounted["subscribed"], recounted["subscribed_sendable"]) == (3, 3)


async def test_every_write_path_moves_the_counts(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog()
    ids = await add_subscribed(api, database_id, resource_id, 4)
    ref = {"resource_id": resource_id, "channel": "email"}
    await api.ok(
        "subscriptions/set",
        {"db_id": database_id, "profile_id": ids[0], **ref, "email": "u0@example.org", "status": "unsubscribed"},
    )
    await api.ok("profiles/import", {"db_id": database_id, "email": "u1@example.org", "data": {"_status": "suspended"}})
    await api.ok("profiles/delete", {"profile_id": ids[2]})
    new = {"email": "new@example.org", "subscriptions": [{**ref, "email": "new@example.org"}]}
    await api.ok("profiles/import", {"db_id": database_id, "data": new})
    counts = email_status(await refresh(api, database_id, resource_id))
    assert counts == email_status(await refresh(api, database_id, resource_id, recount=True))
    # u0 unsubscribed; u1 subscribed but blocked by its _status; u2 gone; u3 and new sendable.
    assert (counts["unsubscribed"], counts["subscribed"], counts["subscribed_sendable"]) == (1, 3, 2)


async def test_the_fold_leaves_one_row_per_key_and_the_same_counts(api: Api, engine: AsyncEngine, backend: str) -> None:
    database_id, resource_id = await api.setup_catalog()
    for start in (0, 10, 20):
        await add_subscribed(api, database_id, resource_id, 10, start)
    before = await rows_per_key(engine, database_id)
    # PostgreSQL: a row per statement and key (an add of fewer than 50 rows inserts them one
    # statement each); SQLite: one row per key from the start.
    assert max(before.values()) == (30 if backend == "postgres" else 1)
    async with read_transaction(engine) as conn:
        counted = sorted(await maintained_counts(conn, database_id, resource_id))
    async with write_transaction(engine) as conn:
        folded = await maintained_counts_fold(conn)
    assert folded == (1 if backend == "postgres" else 0)
    assert set((await rows_per_key(engine, database_id)).values()) == {1}
    async with read_transaction(engine) as conn:
        assert sorted(await maintained_counts(conn, database_id, resource_id)) == counted
    assert counted == [(CHANNEL_CODES["email"], int(Status.SUBSCRIBED), True, 30)]


async def test_the_maintenance_pass_folds_them(api: Api, engine: AsyncEngine, settings: Settings) -> None:
    database_id, resource_id = await api.setup_catalog()
    for start in (0, 10):
        await add_subscribed(api, database_id, resource_id, 10, start)
    await Worker(engine, settings, REGISTRY).maintenance.round()
    assert set((await rows_per_key(engine, database_id)).values()) == {1}
    assert email_status(await refresh(api, database_id, resource_id))["subscribed"] == 20


async def test_a_key_whose_deltas_add_up_to_nothing_is_folded_away(api: Api, engine: AsyncEngine, backend: str) -> None:
    if backend != "postgres":
        pytest.skip("SQLite keeps one row per key, updated in place")
    database_id, resource_id = await api.setup_catalog()
    [profile_id] = await add_subscribed(api, database_id, resource_id, 1)
    await api.ok("profiles/delete", {"profile_id": profile_id})
    async with write_transaction(engine) as conn:
        await maintained_counts_fold(conn)
    assert await rows_per_key(engine, database_id) == Counter()


@pytest.mark.parametrize("value", ["yes", 1, "TRUE1"])
async def test_recount_must_be_a_boolean(api: Api, value: object) -> None:
    database_id, resource_id = await api.setup_catalog()
    envelope = await api.raw(
        "databases/refresh_counters", {"id": database_id, "resource_id": resource_id, "recount": value}
    )
    assert_error(envelope, 400, f"Invalid parameter: recount must be true or false, got {value!r}")


async def test_recount_in_xml(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    inner = f"<id>{database_id}</id><resource_id>{resource_id}</resource_id><recount>true</recount>"
    envelope = await post_xml(api, "databases/refresh_counters", inner)
    status = await api.wait_task(envelope["data"]["task_id"])
    assert status["status"] == "completed"


async def test_concurrent_writers_share_no_counter_row(api: Api, engine: AsyncEngine, backend: str) -> None:
    """Two uncommitted writes to the same keys: the second never waits for the first."""
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time by design")
    database_id, resource_id = await api.setup_catalog()
    await writes_do_not_wait(
        engine,
        lambda conn: profiles_add(conn, api.account_id, database_id, list(demo_profiles(20, resource_id))),
        lambda conn: profiles_add(conn, api.account_id, database_id, list(demo_profiles(20, resource_id, seed=7))),
    )
    maintained = await refresh(api, database_id, resource_id)
    recounted = await refresh(api, database_id, resource_id, recount=True)
    assert maintained["result"][0]["channels"] == recounted["result"][0]["channels"]
    async with read_transaction(engine) as conn:
        rows = await conn.scalar(
            select(func.count())
            .select_from(subscription_counts)
            .where(subscription_counts.c.database_id == database_id)
        )
    assert rows and rows > 1


async def test_a_fold_and_a_write_cut_off_before_commit_leave_the_counts_as_they_were(
    api: Api, engine: AsyncEngine, backend: str
) -> None:
    """The backend of a transaction that folded and wrote is killed before its commit."""
    if backend != "postgres":
        pytest.skip("terminating a server connection is a PostgreSQL test")
    database_id, resource_id = await api.setup_catalog()
    for start in (0, 10):
        await add_subscribed(api, database_id, resource_id, 10, start)
    async with read_transaction(engine) as conn:
        before = sorted(await maintained_counts(conn, database_id, resource_id))
    conn = await engine.connect()
    transaction = await conn.begin()
    pid = await conn.scalar(text("SELECT pg_backend_pid()"))
    assert await maintained_counts_fold(conn) > 0
    await profiles_add(conn, api.account_id, database_id, list(demo_profiles(5, resource_id)))
    async with engine.connect() as killer:
        assert await killer.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(DBAPIError):
        await transaction.commit()
    await conn.close()
    async with read_transaction(engine) as conn:
        assert sorted(await maintained_counts(conn, database_id, resource_id)) == before
    maintained = await refresh(api, database_id, resource_id)
    recounted = await refresh(api, database_id, resource_id, recount=True)
    assert maintained["result"][0]["channels"] == recounted["result"][0]["channels"]


async def test_a_recount_asked_while_a_refresh_is_queued_is_that_refresh(
    engine: AsyncEngine, settings: Settings
) -> None:
    async with make_app(settings, embedded_worker=False) as client:
        api = await Api.for_new_account(client, engine)
        database_id, resource_id = await api.setup_catalog()
        pair = {"id": database_id, "resource_id": resource_id}
        queued = await api.ok("databases/refresh_counters", pair)
        assert await api.ok("databases/refresh_counters", pair | {"recount": True}) == queued
        async with read_transaction(engine) as conn:
            params = await conn.scalar(select(tasks.c.params).where(tasks.c.id == queued["task_id"]))
        assert params == {"database_id": database_id, "resource_id": resource_id}


async def test_eight_writers_an_import_deletes_and_a_fold_at_once_never_wait_on_each_other(
    api: Api, engine: AsyncEngine, backend: str
) -> None:
    """PostgreSQL, on one (database, resource): eight transactions adding profiles, one
    importing over stored profiles (statuses and subscriptions changed), one deleting
    profiles and one folding the counts all write, and none commits until every one has
    written, each under a 2 s lock timeout. A write that waited for a lock another holds
    (a counter row above all) would never reach the barrier and fail on its timeout.
    Afterwards the maintained counts equal a recount."""
    if backend != "postgres":
        pytest.skip("SQLite has one writer at a time by design")
    database_id, resource_id = await api.setup_catalog()
    doomed = await add_subscribed(api, database_id, resource_id, 40, start=10_000)
    await add_subscribed(api, database_id, resource_id, 60, start=20_000)
    import_batch = next(method for method in METHODS if method.path == "profiles/import_batch")
    statuses = ["unconfirmed", "unsubscribed", "subscribed"] * 20
    imported = validate_params(
        import_batch.params,
        {
            "db_id": database_id,
            "data": [
                {"email": f"u{n}@example.org", "subscriptions": [email_sub(resource_id, f"u{n}@example.org", status)]}
                for n, status in zip(range(20_000, 20_060), statuses, strict=True)
            ],
        },
        is_xml=False,
    )
    writes: list[Write] = [
        *(
            lambda conn, number=number: profiles_add(
                conn, api.account_id, database_id, list(demo_profiles(10, resource_id, seed=number))
            )
            for number in range(8)
        ),
        lambda conn: profiles_import(
            conn,
            api.account_id,
            database_id,
            imported.matching,
            imported.data,  # type: ignore[attr-defined]
        ),
        lambda conn: _delete_all(conn, api.account_id, [int(profile_id) for profile_id in doomed]),
        maintained_counts_fold,
    ]
    written = asyncio.Barrier(len(writes))

    async def write_and_wait(write: Write) -> None:
        async with write_transaction(engine) as conn:
            await conn.execute(text("SET LOCAL lock_timeout = '2s'"))
            await write(conn)
            await asyncio.wait_for(written.wait(), 10)

    await asyncio.gather(*(write_and_wait(write) for write in writes))
    maintained = await refresh(api, database_id, resource_id)
    recounted = await refresh(api, database_id, resource_id, recount=True)
    assert maintained["result"][0]["channels"] == recounted["result"][0]["channels"]
    assert maintained["result"][0]["total_count"] == 8 * 10 + 60


async def _delete_all(conn: AsyncConnection, account_id: int, profile_ids: list[int]) -> None:
    for profile_id in profile_ids:
        await profile_delete(conn, account_id, profile_id)


FOLD_AND_WRITE_THEN_HANG = """
import asyncio, sys
from tally.counters.queries import maintained_counts_fold
from tally.demo import demo_profiles
from tally.profiles.service import profiles_add
from tally.store.engine import create_engine, write_transaction

async def main(url, account_id, database_id, resource_id):
    async with write_transaction(create_engine(url)) as conn:
        folded = await maintained_counts_fold(conn)
        await profiles_add(conn, account_id, database_id, list(demo_profiles(5, resource_id)))
        print(f"written, {folded} keys folded", flush=True)
        await asyncio.sleep(120)

asyncio.run(main(sys.argv[1], *map(int, sys.argv[2:])))
"""


async def test_a_process_killed_after_it_folded_and_wrote_leaves_the_counts_as_they_were(
    api: Api, engine: AsyncEngine, backend: str, database_url: str
) -> None:
    """A real process folds the counts and adds profiles in one transaction, then is killed
    (SIGKILL) before its commit: the maintained counts are those of before, equal to a
    recount, on both backends (SQLite rolls the write back from its WAL)."""
    database_id, resource_id = await api.setup_catalog()
    for start in (0, 10):
        await add_subscribed(api, database_id, resource_id, 10, start)
    async with read_transaction(engine) as conn:
        before = sorted(await maintained_counts(conn, database_id, resource_id))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        FOLD_AND_WRITE_THEN_HANG,
        database_url,
        *(str(number) for number in (api.account_id, database_id, resource_id)),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 60)).decode()
        assert line.startswith("written"), line
        if backend == "postgres":
            assert not line.startswith("written, 0 keys"), "nothing was folded: the kill would prove less"
    finally:
        process.kill()
        await process.wait()
    async with read_transaction(engine) as conn:
        assert sorted(await maintained_counts(conn, database_id, resource_id)) == before
    maintained = await refresh(api, database_id, resource_id)
    recounted = await refresh(api, database_id, resource_id, recount=True)
    assert maintained["result"][0]["channels"] == recounted["result"][0]["channels"]
    assert maintained["result"][0]["total_count"] == 20
