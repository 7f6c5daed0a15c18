"""``GET /metrics`` (metrics/): what an operator's Prometheus reads, parsed as it parses it.

Counters are process-wide, and one pytest process runs many apps: each test compares a
value before and after what it does.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tests.conftest import free_port
from tests.counters.test_reconcile import DAY, planted, queue_due
from tests.helpers import Api, make_app
from tests.processes import tally_processes


async def scrape(client: httpx.AsyncClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_requests_and_their_latency_are_counted_per_method_and_status(api: Api) -> None:
    before = await scrape(api.client)
    for _ in range(3):
        await api.ok("databases/list")
    await api.raw("databases/get", {"id": 999})
    await api.client.post("/api/v1.1/no/such")
    after = await scrape(api.client)
    assert (
        value(after, "tally_api_requests_total", method="databases/list", status="200")
        - value(before, "tally_api_requests_total", method="databases/list", status="200")
        == 3
    )
    counted = "tally_api_requests_total"
    assert (
        value(after, counted, method="databases/get", status="404")
        - value(before, counted, method="databases/get", status="404")
        == 1
    )
    assert value(after, counted, method="unknown", status="404") > value(
        before, counted, method="unknown", status="404"
    )
    latency = "tally_api_request_seconds_count"
    assert value(after, latency, method="databases/list") - value(before, latency, method="databases/list") == 3
    assert value(after, latency, method="unknown") == value(before, latency, method="unknown") + 1
    assert value(after, "tally_api_request_seconds_sum", method="unknown") > value(
        before, "tally_api_request_seconds_sum", method="unknown"
    ), "a path naming no method is timed too"
    assert value(after, "tally_api_request_seconds_sum", method="databases/list") > 0


@pytest.fixture
async def without_worker(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Api]:
    async with make_app(settings, embedded_worker=False) as client:
        yield await Api.for_new_account(client, engine)


async def test_the_queue_depth_is_read_from_the_tasks_table(without_worker: Api) -> None:
    api = without_worker
    database_id, resource_id = await api.setup_catalog()
    assert value(await scrape(api.client), "tally_tasks", kind="refresh_counters", status="queued") == 0
    await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})
    other_database = (await api.ok("databases/add", {"name": "Second"}))["id"]
    await api.ok("resources/update", {"id": resource_id, "dbs_ids": [database_id, other_database]})
    await api.ok("databases/refresh_counters", {"id": other_database, "resource_id": resource_id})
    samples = await scrape(api.client)
    assert value(samples, "tally_tasks", kind="refresh_counters", status="queued") == 2
    assert 0 <= value(samples, "tally_tasks_oldest_due_seconds", kind="refresh_counters") < 60


async def test_a_task_run_is_timed_by_kind_and_outcome(api: Api) -> None:
    name = "tally_task_seconds_count"
    before = value(await scrape(api.client), name, kind="refresh_counters", outcome="completed")
    database_id, resource_id = await api.setup_catalog()
    task = await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})
    assert (await api.wait_task(task["task_id"]))["status"] == "completed"
    after = await scrape(api.client)
    assert value(after, name, kind="refresh_counters", outcome="completed") == before + 1


async def test_the_differences_a_reconciliation_found_are_counted(
    api: Api, engine: AsyncEngine, settings: Settings
) -> None:
    before = await scrape(api.client)
    await planted(api, engine, settings, 40)
    [task_id] = await queue_due(engine, settings, DAY)
    assert (await api.wait_task(task_id))["status"] == "completed"
    after = await scrape(api.client)
    assert value(after, "tally_reconcile_differences_total") == value(before, "tally_reconcile_differences_total") + 1
    corrected = "tally_reconciliations_total"
    assert value(after, corrected, result="corrected") == value(before, corrected, result="corrected") + 1


@pytest.mark.slow
def test_a_worker_process_serves_its_own_counts(tmp_path: Path, database_url: str, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the metrics server does not depend on the database")
    with tally_processes(database_url, tmp_path) as processes:
        assert processes.start("token", "create", "--account", "metrics").wait(30) == 0
        token = (tmp_path / "tally-0-token.log").read_text().strip().splitlines()[-1]
        api_port, metrics_port = free_port(), free_port()
        processes.serve(api_port, "--no-worker")
        processes.start("worker", "--metrics-port", str(metrics_port))
        base = f"http://127.0.0.1:{api_port}/api/v1.1"
        auth = {"Authorization": f"Bearer {token}"}
        database = httpx.post(f"{base}/databases/add", json={"name": "Shop"}, headers=auth).json()["data"]["id"]
        body = {"name": "News", "channels": ["email"], "dbs_ids": [database]}
        resource = httpx.post(f"{base}/resources/add", json=body, headers=auth).json()["data"]["id"]
        refresh = {"id": database, "resource_id": resource}
        task_id = httpx.post(f"{base}/databases/refresh_counters", json=refresh, headers=auth).json()["data"]["task_id"]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            status = httpx.post(f"{base}/tasks/status", json={"task_id": task_id}, headers=auth).json()["data"]
            if status["status"] == "completed":
                break
            time.sleep(0.1)
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    [family] = [family for family in text_string_to_metric_families(text) if family.name == "tally_task_seconds"]
    counts = {sample.labels["outcome"]: sample.value for sample in family.samples if sample.name.endswith("_count")}
    assert counts["completed"] == 1, text
