"""Refreshing the counters of one (database, resource): starting it, running it, showing it.

A refresh reads the counts the triggers of migration 0012 keep in every write's transaction
(``subscription_counts``): one small aggregate, whatever the database's size. With
``recount`` it counts the subscriptions themselves instead (count.py), the proof of those.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.catalog.channels import CHANNEL_CODES
from tally.catalog.queries import Lock
from tally.catalog.service import database_require, pair_require, resource_require
from tally.counters import queries
from tally.counters.count import Tally, count_chunk, maintained_tally, plan_chunks
from tally.counters.queries import CounterSet
from tally.errors import TallyError
from tally.profiles.statuses import SENDABLE_STATUSES, Status
from tally.queue.execution import Execution, Finish, TaskFailed
from tally.queue.queries import task_active_for_key, task_insert
from tally.store.engine import is_sqlite, snapshot_shared, snapshot_transaction
from tally.store.types import utcnow
from tally.timefmt import go_duration, rfc3339_ms, rfc3339_seconds

KIND = "refresh_counters"


def dedupe_key(database_id: int, resource_id: int) -> str:
    return f"{KIND}:{database_id}:{resource_id}"


async def refresh_start(
    conn: AsyncConnection, account_id: int, database_id: int, resource_id: int, *, recount: bool = False
) -> str:
    """Queue a refresh, or return the one already queued or running for the same pair
    (a recount asked while a refresh is queued is that refresh).

    The database stays pinned until commit (PostgreSQL): databases/delete and resources/delete
    lock it for a change before they look for its tasks, so they either see this one or
    have committed before it looks (and it finds no database).
    """
    await pair_require(conn, account_id, database_id, resource_id, lock=Lock.PIN)
    task_id, _ = await task_insert(
        conn,
        account_id=account_id,
        kind=KIND,
        params={"database_id": database_id, "resource_id": resource_id} | ({"recount": True} if recount else {}),
        now=utcnow(),
        dedupe_key=dedupe_key(database_id, resource_id),
    )
    return task_id


def channel_counters(channel: str, tally: Tally | None, total: int) -> dict[str, Any]:
    """One ``{"channel", "status"}`` entry, its counters in the order of api.md."""
    code = CHANNEL_CODES[channel]
    counted = {status: tally.counted[(code, status)] if tally else 0 for status in Status}
    sendable = {status: tally.sendable[(code, status)] if tally else 0 for status in SENDABLE_STATUSES}
    status_counts: dict[str, int] = {"all": total}
    for status in Status:
        status_counts[status.word] = counted[status]
        if status in sendable:
            status_counts[f"{status.word}_sendable"] = sendable[status]
    return {"channel": channel, "status": dict(sorted(status_counts.items()))}


async def run_refresh(execution: Execution) -> Finish:
    """Read the maintained counts of one (database, resource), or recount them chunk by chunk."""
    task = execution.task
    database_id, resource_id = task.params["database_id"], task.params["resource_id"]
    started_at = execution.clock()
    started_ns = time.perf_counter_ns()
    # Every chunk, and `total`, read one snapshot: chunks are runs of statuses, so with a
    # snapshot per chunk a profile whose status changed between two chunks would be
    # counted in both (or in neither), and the counters would no longer add up to `all`.
    async with snapshot_transaction(execution.engine) as conn:
        try:
            database = await database_require(conn, task.account_id, database_id)
            resource = await resource_require(conn, task.account_id, resource_id)
        except TallyError as error:
            raise TaskFailed(error.text) from None
        total = database.profiles_count
        codes = [CHANNEL_CODES[channel] for channel in sorted(resource.channels)]
        if task.params.get("recount"):
            tally = await recount(execution, conn, database_id, resource_id, codes)
        else:
            tally = maintained_tally(await queries.maintained_counts(conn, database_id, resource_id))
    duration_ns = time.perf_counter_ns() - started_ns
    channels = [channel_counters(channel, tally, total) for channel in sorted(resource.channels)]

    async def finish(conn: AsyncConnection, now: datetime) -> list[dict[str, Any]]:
        counted = CounterSet(task.account_id, channels, total, started_at, duration_ns, now, task.id)
        await queries.counter_set_put(conn, database_id, resource_id, counted)
        await queries.history_add(conn, database_id, resource_id, counted)
        return [result_element(resource_id, channels, total, started_at, duration_ns, now)]

    return finish


async def recount(
    execution: Execution, conn: AsyncConnection, database_id: int, resource_id: int, codes: list[int]
) -> Tally:
    """The subscriptions themselves, counted chunk by chunk, with progress after each chunk.

    On PostgreSQL the chunks are shared out among ``TALLY_COUNT_CONNECTIONS`` connections
    that all read the snapshot of ``conn`` (store/engine.py ``snapshot_shared``), each chunk
    query without parallel workers of its own: the parallelism PostgreSQL gives the one
    aggregate, without starting workers for every chunk. At 10M profiles the recount took
    1.50x the one aggregate on one connection, and 1.03x on two (bench/refresh.py).
    """
    previous = await _previous_counts(conn, database_id, resource_id)
    chunks = plan_chunks(codes, execution.settings.count_chunk_size, previous)
    tally = Tally()
    total_weight, done_weight = sum(chunk.weight for chunk in chunks), 0
    # The largest first, so that the connections finish close together.
    pending = iter(sorted(chunks, key=lambda chunk: chunk.weight, reverse=True))
    others = 0 if is_sqlite(conn) else min(execution.settings.count_connections, len(chunks)) - 1

    async def count_on(chunk_conn: AsyncConnection) -> None:
        nonlocal done_weight
        if not is_sqlite(chunk_conn):
            # psycopg prepares a statement run 5 times on a connection, and PostgreSQL then
            # reuses a generic plan: serial, sized for a few rows, 1.25x slower at 10M
            # profiles than the plan made for each chunk's own values (bench/refresh.py).
            await chunk_conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        if others:
            await chunk_conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        for chunk in pending:
            await count_chunk(chunk_conn, database_id, resource_id, chunk, tally)
            done_weight += chunk.weight
            await execution.report_progress(99 * done_weight // total_weight)

    async with snapshot_shared(execution.engine, conn, others) as clones:
        await all_or_none([count_on(chunk_conn) for chunk_conn in [conn, *clones]])
    return tally


async def all_or_none(runs: list[Coroutine[Any, Any, None]]) -> None:
    """Await every run; on the first failure, cancel the others and raise that failure."""
    tasks = [asyncio.ensure_future(run) for run in runs]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _previous_counts(
    conn: AsyncConnection, database_id: int, resource_id: int
) -> dict[tuple[int, int], int] | None:
    """Rows per (channel code, status) at the last refresh: the weights of this one's chunks."""
    channels = await queries.counter_set_channels(conn, database_id, resource_id)
    if channels is None:
        return None
    # A status word missing from a stored set (one added since) weighs nothing.
    return {
        (CHANNEL_CODES[entry["channel"]], status): int(entry["status"].get(status.word, 0))
        for entry in channels
        if entry["channel"] in CHANNEL_CODES
        for status in Status
    }


def result_element(
    resource_id: int,
    channels: list[dict[str, Any]],
    total: int,
    started_at: datetime,
    duration_ns: int,
    updated: datetime,
) -> dict[str, Any]:
    return {
        "channels": channels,
        "in_progress": False,
        "last_count_time": f"counted at {rfc3339_seconds(started_at)} in {go_duration(duration_ns)}",
        "refresh_task_id": "",
        "resource_id": resource_id,
        "total_count": total,
        "updated": rfc3339_ms(updated),
    }


async def present_result(conn: AsyncConnection, database_id: int, stored: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A stored result, with in_progress and refresh_task_id as of now."""
    presented = []
    for element in stored:
        active = await task_active_for_key(conn, dedupe_key(database_id, element["resource_id"]))
        presented.append({**element, "in_progress": active is not None, "refresh_task_id": active or ""})
    return presented


async def counters_get(
    conn: AsyncConnection, account_id: int, database_id: int, resource_id: int
) -> list[dict[str, Any]]:
    """The channels of the last finished refresh; all zeros if there was none."""
    _, resource = await pair_require(conn, account_id, database_id, resource_id)
    channels = await queries.counter_set_channels(conn, database_id, resource_id)
    if channels is None:
        return [channel_counters(channel, None, 0) for channel in sorted(resource.channels)]
    return channels
