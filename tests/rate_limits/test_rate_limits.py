"""Rate limits per token (rate_limits/): the GCRA arithmetic, the 429 an API client gets,
and one bucket shared by every API process on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.config import Settings
from tally.rate_limits.buckets import MemoryBuckets, Rate, SharedBuckets
from tests.conftest import free_port
from tests.helpers import Api, make_app
from tests.processes import tally_processes
from tests.wire.support import envelope, post_xml


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_burst_passes_then_one_request_per_interval(engine: AsyncEngine) -> None:
    clock = Clock()
    buckets = MemoryBuckets(Rate(per_second=2, burst=3), clock=clock)
    assert [await buckets.take(engine, 7) for _ in range(3)] == [0, 0, 0]
    assert await buckets.take(engine, 7) == pytest.approx(0.5)
    assert await buckets.take(engine, 8) == 0, "another token has its own bucket"
    clock.now += 0.5
    assert await buckets.take(engine, 7) == 0
    assert await buckets.take(engine, 7) == pytest.approx(0.5), "a refused request is not counted"
    clock.now += 10
    assert [await buckets.take(engine, 7) for _ in range(4)] == [0, 0, 0, pytest.approx(0.5)]


async def test_the_shared_buckets_count_on_the_database_clock(engine: AsyncEngine, backend: str) -> None:
    if backend != "postgres":
        pytest.skip("the shared buckets are PostgreSQL's")
    buckets = SharedBuckets(Rate(per_second=1, burst=3))
    assert [await buckets.take(engine, 7) for _ in range(3)] == [0, 0, 0]
    wait = await buckets.take(engine, 7)
    assert 0.9 < wait <= 1.0
    assert await buckets.take(engine, 8) == 0


@pytest.fixture
async def limited(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Api]:
    """The app with 1 request per second per token, in bursts of 3."""
    async with make_app(replace(settings, rate_limit=1.0, rate_burst=3)) as client:
        yield await Api.for_new_account(client, engine)


async def test_past_the_burst_a_token_gets_429_with_retry_after(limited: Api, engine: AsyncEngine) -> None:
    for _ in range(3):
        assert (await limited.raw("databases/list")).status_code == 200
    refused = await limited.raw("databases/list")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "1"
    assert envelope(refused)["error_text"] == (
        "Too many requests: this token may send 1 per second (bursts of 3); retry in 1 s"
    )
    body = {"token": limited.token, "task_id": str(uuid.uuid4())}
    xml = await post_xml(limited.client, "tasks/status", body, params={"format": "xml"})
    assert xml.status_code == 429 and xml.text.startswith("<?xml") and envelope(xml)["error"] == 429

    second = await token_create(engine, "another-client")
    other = Api(limited.client, second.token, second.account_id)
    assert (await other.raw("databases/list")).status_code == 200, "each token has its own bucket"


async def test_a_bad_token_is_401_before_any_bucket(limited: Api) -> None:
    for _ in range(5):
        response = await limited.client.post("/api/v1.1/databases/list", json={"token": "tly_unknown"})
        assert response.status_code == 401
    assert (await limited.raw("databases/list")).status_code == 200


async def test_without_a_rate_nothing_is_limited(api: Api) -> None:
    for _ in range(30):
        assert (await api.raw("databases/list")).status_code == 200


async def test_two_api_processes_share_one_bucket_on_postgresql(
    database_url: str, backend: str, tmp_path: Path, engine: AsyncEngine
) -> None:
    if backend != "postgres":
        pytest.skip("on SQLite the one process keeps its buckets in memory")
    token = (await token_create(engine, "shared")).token
    limits = {"TALLY_RATE_LIMIT": "0.2", "TALLY_RATE_BURST": "4"}
    with tally_processes(database_url, tmp_path, limits) as processes:
        ports = [free_port(), free_port()]
        for port in ports:
            processes.serve(port, "--no-worker", "--log-level", "warning")

        def call(port: int) -> httpx.Response:
            url = f"http://127.0.0.1:{port}/api/v1.1/databases/list"
            return httpx.post(url, headers={"Authorization": f"Bearer {token}"})

        statuses = [call(port).status_code for port in ports for _ in range(2)]
        assert statuses == [200, 200, 200, 200]
        refused = [call(port) for port in ports]
        assert [response.status_code for response in refused] == [429, 429]
        assert all(int(response.headers["retry-after"]) in (4, 5) for response in refused)
