"""A large database through the API: a refresh's latency, and writes during a recount.

Against real processes on 127.0.0.1 (PostgreSQL: ``tally serve --no-worker`` and one
``tally worker``; SQLite: the embedded default), on a bench database of N profiles
(bench/load.py's, found again if one holds exactly N; else loaded: COPY on PostgreSQL,
profiles_add on SQLite), measures:

* ``refresh_counters`` (the maintained counts) until ``tasks/status`` says completed, the
  client polling every 1 ms: median and p90 of 30 samples (bench/latency.py measures the
  same at 1,336 profiles: the size should not show);
* ``profiles/add`` one call at a time, 200 calls with nothing else running: p50 and p99;
* the same calls during a ``refresh_counters`` with ``"recount": true``, until it completes
  (``tasks/status`` asked every 20 ms by another client): p50, p99 and how many; and the
  recount task's progress as its row recorded it (read from the database every 2 ms),
  with how many times it moved.

Issue 9's targets, at 10M profiles on PostgreSQL: the refresh's median at most 20 ms; p99
of the writes during the recount at most 50 ms; the progress moves at least 10 times.
Prints a table and writes the measures as JSON.

Usage: python bench/large_database.py --database-url URL [--profiles N] [--json PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import load as copy_loader
import psycopg
import refresh as refresh_bench
from latency import running

from tally.accounts.service import token_create
from tally.store.engine import create_engine, is_sqlite, normalise_url
from tally.store.migrate import upgrade

BASELINE_CALLS = 200
#: The task's row is sampled this often for its progress; tasks/status is asked less often.
PROGRESS_SAMPLE_SECONDS, STATUS_POLL_SECONDS = 0.002, 0.02
TARGET_REFRESH_MS, TARGET_P99_MS, TARGET_PROGRESS_MOVES = 20.0, 50.0, 10
REFRESH_SAMPLES = 30


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def prepare(url: str, profiles: int) -> tuple[str, copy_loader.Target]:
    """The bench database of ``profiles`` profiles (loaded if missing), and a new token for it."""
    engine = create_engine(url)
    try:
        if not is_sqlite(engine):
            copy_loader.ensure_database(url)
        await upgrade(engine)
        target = await copy_loader.find_target(engine, profiles)
        if target is None:
            log(f"loading {profiles:,} profiles")
            if is_sqlite(engine):
                account_id, database_id, resource_id, _ = await refresh_bench.load(engine, profiles)
                target = copy_loader.Target(account_id, database_id, resource_id)
            else:
                target = await copy_loader.create_target(engine)
                await asyncio.to_thread(copy_loader.copy_load, url, target, profiles)
        if not is_sqlite(engine):
            await refresh_bench.vacuum_until_visible(engine)
        token = (await token_create(engine, copy_loader.BENCH_ACCOUNT)).token
    finally:
        await engine.dispose()
    return token, target


class Client:
    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(base_url=f"{base}/api/v1.1", timeout=120)
        self.token = token

    def ok(self, method: str, body: dict[str, Any]) -> Any:
        envelope = self.http.post(f"/{method}", json={"token": self.token, **body}).json()
        if envelope["error"]:
            raise SystemExit(f"{method}: {envelope}")
        return envelope["data"]


def refresh_latency(client: Client, target: copy_loader.Target) -> float:
    """One refresh of the maintained counts, request to completed, polling every 1 ms; in ms."""
    started = time.perf_counter()
    pair = {"id": target.database_id, "resource_id": target.resource_id}
    task_id = client.ok("databases/refresh_counters", pair)["task_id"]
    while client.ok("tasks/status", {"task_id": task_id})["status"] not in ("completed", "error"):
        time.sleep(0.001)
    return (time.perf_counter() - started) * 1000


#: The profiles this run added: deleted at the end, so that the bench database keeps its
#: size and is found again by the next run (bench/load.py find_target).
ADDED: list[str] = []


def add_profile(client: Client, target: copy_loader.Target) -> float:
    """One profiles/add of a new subscribed profile; its latency in ms."""
    email = f"during-{uuid.uuid4().hex[:12]}@example.org"
    data = {"email": email, "subscriptions": [{"resource_id": target.resource_id, "channel": "email"}]}
    started = time.perf_counter()
    ADDED.append(client.ok("profiles/add", {"db_id": target.database_id, "data": data})["profile_id"])
    return (time.perf_counter() - started) * 1000


def progress_reader(url: str) -> Callable[[str], int]:
    """Reads a task's progress straight from its row: the bench's sampling costs the API nothing."""
    if url.startswith("sqlite"):
        sqlite = sqlite3.connect(url.split(":///", 1)[1], isolation_level=None, check_same_thread=False)
        return lambda task_id: int(sqlite.execute("SELECT progress FROM tasks WHERE id = ?", (task_id,)).fetchone()[0])
    postgres = psycopg.connect(copy_loader.libpq_url(url), autocommit=True)
    return lambda task_id: int(postgres.execute("SELECT progress FROM tasks WHERE id = %s", (task_id,)).fetchone()[0])


def during_recount(base: str, url: str, token: str, target: copy_loader.Target) -> dict[str, Any]:
    writer, watcher = Client(base, token), Client(base, token)
    task_id = watcher.ok(
        "databases/refresh_counters", {"id": target.database_id, "resource_id": target.resource_id, "recount": True}
    )["task_id"]
    read_progress = progress_reader(url)
    progress: list[int] = []
    ended = threading.Event()
    final: dict[str, Any] = {}

    def watch() -> None:
        polled = time.perf_counter()
        while True:
            percent = read_progress(task_id)
            if not progress or progress[-1] != percent:
                progress.append(percent)
            if time.perf_counter() - polled >= STATUS_POLL_SECONDS:
                polled = time.perf_counter()
                status = watcher.ok("tasks/status", {"task_id": task_id})
                if status["status"] in ("completed", "error"):
                    final.update(status)
                    ended.set()
                    return
            time.sleep(PROGRESS_SAMPLE_SECONDS)

    watching = threading.Thread(target=watch)
    watching.start()
    latencies = []
    while not ended.is_set():
        latencies.append(add_profile(writer, target))
    watching.join()
    if final["status"] != "completed":
        raise SystemExit(f"the recount ended as {final['status']}: {final.get('error_text')}")
    if progress[-1] != 100:
        progress.append(100)
    return {
        "adds": len(latencies),
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "progress_seen": progress,
        "progress_moves": len(progress) - 1,
        "recount": final["result"][0]["last_count_time"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path, default=Path("build/bench/large_database.json"))
    args = parser.parse_args()
    url = normalise_url(args.database_url)
    token, target = asyncio.run(prepare(url, args.profiles))
    backend = "sqlite" if url.startswith("sqlite") else "postgres"
    with running(url, 0 if backend == "sqlite" else 1) as base:
        client = Client(base, token)
        for _ in range(20):  # warm-up
            add_profile(client, target)
        log(f"{backend}: {BASELINE_CALLS} profiles/add alone")
        alone = [add_profile(client, target) for _ in range(BASELINE_CALLS)]
        # Refreshes first: the recount then cuts its chunks by their counts (a first one
        # counts a chunk per channel), as in a database that has been counted before.
        log(f"{backend}: refresh of {args.profiles:,} profiles, {REFRESH_SAMPLES} samples")
        refreshes = [refresh_latency(client, target) for _ in range(REFRESH_SAMPLES + 5)][5:]
        log(f"{backend}: profiles/add during a recount of {args.profiles:,} profiles")
        try:
            during = during_recount(base, url, token, target)
        finally:
            log(f"deleting the {len(ADDED)} profiles added")
            for profile_id in ADDED:
                client.ok("profiles/delete", {"profile_id": profile_id})
    result = {
        "backend": backend,
        "profiles": args.profiles,
        "refresh_median_ms": percentile(refreshes, 0.5),
        "refresh_p90_ms": percentile(refreshes, 0.9),
        "alone_p50_ms": percentile(alone, 0.5),
        "alone_p99_ms": percentile(alone, 0.99),
        **{f"during_{key}": value for key, value in during.items()},
    }
    met = (
        result["refresh_median_ms"] <= TARGET_REFRESH_MS
        and result["during_p99_ms"] <= TARGET_P99_MS
        and result["during_progress_moves"] >= TARGET_PROGRESS_MOVES
    )
    print(f"{backend}, {args.profiles:,} profiles; the recount: {during['recount']}")
    print(
        f"refresh, request to completed (polling 1 ms): median {result['refresh_median_ms']:.1f} ms,"
        f" p90 {result['refresh_p90_ms']:.1f} ms"
    )
    print(f"{'profiles/add':24} {'calls':>6} {'p50':>9} {'p99':>9}")
    print(f"{'alone':24} {BASELINE_CALLS:6} {result['alone_p50_ms']:6.1f} ms {result['alone_p99_ms']:6.1f} ms")
    print(f"{'during the recount':24} {during['adds']:6} {during['p50_ms']:6.1f} ms {during['p99_ms']:6.1f} ms")
    print(f"recount progress seen: {during['progress_seen']} ({during['progress_moves']} moves)")
    targets = (
        f"refresh median <= {TARGET_REFRESH_MS:g} ms, p99 during <= {TARGET_P99_MS:g} ms,"
        f" progress moves >= {TARGET_PROGRESS_MOVES}"
    )
    if backend == "postgres" and args.profiles >= 10_000_000:
        print(f"targets: {targets}: " + ("met" if met else "NOT met"))
    else:
        print(f"targets (they apply to 10,000,000 profiles on PostgreSQL): {targets}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.json}")


if __name__ == "__main__":
    main()
