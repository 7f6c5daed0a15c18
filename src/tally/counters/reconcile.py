"""The proof of the maintained counts: a recount of each (database, resource), now and then.

Every TALLY_RECONCILE_HOURS the counters' maintenance pass queues one ``reconcile_counts``
task per linked pair that is due (noting the time in ``count_reconciliations`` in the same
transaction, so that each pair is checked once per interval however many workers run). The
task reads the maintained counts and recounts the rows in one snapshot; the triggers write
in the transaction of each write, so the two agree unless something went wrong. A
difference is logged at ERROR with its figures and corrected: the missing delta is added,
which stays right whatever was written since the snapshot (later writes moved both alike).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import prometheus_client
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.catalog.channels import CHANNEL_CODES, CHANNEL_NAMES
from tally.catalog.service import database_require, resource_require
from tally.config import Settings
from tally.counters import queries
from tally.counters.count import Tally
from tally.counters.refresh import recount
from tally.errors import TallyError
from tally.profiles.statuses import Status
from tally.queue.execution import Execution, Finish, TaskFailed
from tally.queue.queries import task_insert
from tally.store.engine import snapshot_transaction

KIND = "reconcile_counts"
#: Pairs queued per maintenance round: a backlog (after an outage) drains over a few rounds.
DUE_PER_ROUND = 20

log = logging.getLogger("tally.counters")

RECONCILED = prometheus_client.Counter(
    "tally_reconciliations", "Recounts that checked maintained counts, by result: matched or corrected", ["result"]
)
DIFFERENCES = prometheus_client.Counter(
    "tally_reconcile_differences", "Maintained counters a recount found wrong (and corrected); should stay 0"
)

Key = tuple[int, int, bool]


async def queue_due(conn: AsyncConnection, now: datetime, settings: Settings) -> None:
    """Queue the check of every pair due (the counters' maintenance pass)."""
    if settings.reconcile_hours <= 0:
        return
    before = now - timedelta(hours=settings.reconcile_hours)
    due = await queries.reconciliations_due(conn, now, before, DUE_PER_ROUND)
    for account_id, database_id, resource_id in due:
        await task_insert(
            conn,
            account_id=account_id,
            kind=KIND,
            params={"database_id": database_id, "resource_id": resource_id},
            now=now,
            dedupe_key=f"{KIND}:{database_id}:{resource_id}",
        )
    await queries.reconciliations_mark(conn, [(database_id, resource_id) for _, database_id, resource_id in due], now)


def by_key(tally: Tally) -> Counter[Key]:
    """A recount's effective subscriptions per (channel, status, sendable), the maintained
    counts' keys."""
    counts: Counter[Key] = Counter()
    for (channel, status), counted in tally.counted.items():
        sendable = tally.sendable[(channel, status)]
        counts[(channel, status, True)] += sendable
        counts[(channel, status, False)] += counted - sendable
    return +counts  # without the zeros


async def run_reconcile(execution: Execution) -> Finish:
    task = execution.task
    database_id, resource_id = task.params["database_id"], task.params["resource_id"]
    async with snapshot_transaction(execution.engine) as conn:
        try:
            await database_require(conn, task.account_id, database_id)
            resource = await resource_require(conn, task.account_id, resource_id)
        except TallyError as error:  # deleted since it was queued
            raise TaskFailed(error.text) from None
        rows = await queries.maintained_counts(conn, database_id, resource_id)
        maintained = +Counter({(channel, status, sendable): count for channel, status, sendable, count in rows})
        codes = [CHANNEL_CODES[channel] for channel in sorted(resource.channels)]
        recounted = by_key(await recount(execution, conn, database_id, resource_id, codes))
    keys = sorted(key for key in set(maintained) | set(recounted) if maintained[key] != recounted[key])
    differences = [
        {
            "channel": CHANNEL_NAMES[channel],
            "status": Status(status).word,
            "sendable": sendable,
            "maintained": maintained[(channel, status, sendable)],
            "recounted": recounted[(channel, status, sendable)],
        }
        for channel, status, sendable in keys
    ]
    if differences:
        figures = "; ".join(
            f"{d['channel']} {d['status']}{' sendable' if d['sendable'] else ''}: "
            f"{d['maintained']} maintained, {d['recounted']} recounted"
            for d in differences
        )
        log.error(
            "maintained counts of database %d, resource %d differ from a recount (task %s): %s; corrected",
            database_id,
            resource_id,
            task.id,
            figures,
        )

    async def finish(conn: AsyncConnection, now: datetime) -> dict[str, Any]:
        corrections = [(*key, recounted[key] - maintained[key]) for key in keys]
        await queries.maintained_counts_add(conn, database_id, resource_id, corrections)
        RECONCILED.labels("corrected" if differences else "matched").inc()
        DIFFERENCES.inc(len(differences))
        return {"database_id": database_id, "resource_id": resource_id, "differences": differences}

    return finish
