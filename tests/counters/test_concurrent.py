"""A recount while profiles change: counts true for one state, each profile counted once.

Writes are made between the chunks of a running refresh (the worker reports progress
after each chunk), so that they land in the middle of the count.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.queue.execution import Execution
from tests.counters.model import check_invariants
from tests.counters.support import api_with_chunk_size, refresh
from tests.helpers import Api

Write = Callable[[], Awaitable[None]]


def between_chunks(monkeypatch: pytest.MonkeyPatch, writes: list[Write]) -> None:
    """Make the next progress reports of any refresh each run one of ``writes`` first."""
    original = Execution.report_progress

    async def report_progress(self: Execution, percent: int) -> None:
        await original(self, percent)
        if writes:
            await writes.pop(0)()

    monkeypatch.setattr(Execution, "report_progress", report_progress)


def email_counts(element: dict[str, Any]) -> dict[str, int]:
    [email] = [entry for entry in element["channels"] if entry["channel"] == "email"]
    counts: dict[str, int] = email["status"]
    return counts


async def add_subscribed(api: Api, database_id: int, resource_id: int, count: int) -> list[str]:
    items = [
        {"subscriptions": [{"resource_id": resource_id, "channel": "email", "email": f"u{n}@example.org"}]}
        for n in range(count)
    ]
    results = await api.ok("profiles/add_batch", {"db_id": database_id, "data": items})
    return [result["profile_id"] for result in results]


async def test_refresh_status_changes_between_chunks_count_each_profile_once(
    engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api_with_chunk_size(engine, settings, 1) as api:
        database_id, resource_id = await api.setup_catalog(["email", "sms"])
        profile_ids = await add_subscribed(api, database_id, resource_id, 4)
        await refresh(api, database_id, resource_id, recount=True)  # later refreshes cut chunks by these counts

        async def bounce(index: int) -> None:
            body = {"resource_id": resource_id, "channel": "email", "email": f"u{index}@example.org"}
            ref = {"db_id": database_id, "profile_id": profile_ids[index]}
            await api.ok("subscriptions/set", {**ref, **body, "status": "hardbounced"})

        writes: list[Write] = [functools.partial(bounce, index) for index in range(2)]
        between_chunks(monkeypatch, writes)
        [element] = (await refresh(api, database_id, resource_id, recount=True))["result"]
        assert writes == []
        check_invariants(element["channels"], element["total_count"])
        counts = email_counts(element)
        states = [(4 - bounced, bounced) for bounced in range(3)]
        assert (counts["subscribed"], counts["hardbounced"]) in states, counts
        [after] = (await refresh(api, database_id, resource_id, recount=True))["result"]
        assert (email_counts(after)["subscribed"], email_counts(after)["hardbounced"]) == (2, 2)


async def test_refresh_profiles_added_and_deleted_between_chunks_keep_all_consistent(
    engine: AsyncEngine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with api_with_chunk_size(engine, settings, 1) as api:
        database_id, resource_id = await api.setup_catalog(["email", "push", "sms"])
        profile_ids = await add_subscribed(api, database_id, resource_id, 3)
        await refresh(api, database_id, resource_id, recount=True)

        async def add_more() -> None:
            await add_subscribed(api, database_id, resource_id, 5)

        async def delete_one() -> None:
            await api.ok("profiles/delete", {"profile_id": profile_ids[0]})

        between_chunks(monkeypatch, [add_more, delete_one])
        [element] = (await refresh(api, database_id, resource_id, recount=True))["result"]
        check_invariants(element["channels"], element["total_count"])
        counts = email_counts(element)
        # The state before the writes, between them, or after them.
        assert (element["total_count"], counts["subscribed"]) in [(3, 3), (8, 8), (7, 7)], element
