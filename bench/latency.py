"""Refresh latency and tiny-task throughput through the real API, as a client sees them.

Measures, on each backend asked for, against real processes on 127.0.0.1:

* ``refresh, 1,336 profiles``: ``databases/refresh_counters`` until ``tasks/status`` says
  completed, the client polling every 1 ms (the API's own example size); median and p90 of
  the samples, and the task's own "counted in" (``last_count_time``);
* ``tiny tasks``: 100 databases of 20 profiles, a refresh of each queued at once (eight
  clients share the requests), completed per second from the tasks' own ``created``
  (first) and ``finished`` (last);
* ``commit floor``: the same 100 tasks' state changes as bare SQL on the same database and
  tables, with the same concurrency (one client inserting, one transaction per task; the
  workers claiming with the same statement and completing, one transaction each): the
  rate the database's own commits allow, and the tiny tasks' rate as a share of it.

SQLite runs the embedded default (``tally serve`` with its worker inside); PostgreSQL runs
``tally serve --no-worker`` and 2 ``tally worker`` processes. Default settings throughout.
Issue 9's targets: median at most 10 ms on both; tiny tasks at least 200/s on SQLite and
300/s on PostgreSQL. Prints a table and writes the measures as JSON (--json).

Usage: python bench/latency.py [--backend sqlite|postgres|both] [--samples N]
           [--admin-url postgresql://postgres@127.0.0.1:5432/postgres] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

TALLY = str(Path(sys.executable).with_name("tally"))
TARGETS = {"sqlite": (10.0, 200.0), "postgres": (10.0, 300.0)}
QUEUEING_CLIENTS = 8
COUNTED_IN = re.compile(r"counted at \S+ in (\S+)")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running(url: str, workers: int) -> Iterator[str]:
    """``tally serve`` (with its worker when ``workers`` is 0) and ``workers`` workers; the base URL."""
    port = free_port()
    serve = [TALLY, "serve", "--host", "127.0.0.1", "--port", str(port), "--database-url", url]
    commands = [serve + (["--no-worker"] if workers else [])]
    commands += [[TALLY, "worker", "--database-url", url]] * workers
    processes = [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for command in commands
    ]
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        time.sleep(1)  # the workers listen
        yield base
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=60)


def demo(url: str, profiles: int) -> str:
    """A demo account with one database of ``profiles`` profiles; its token."""
    subprocess.run([TALLY, "migrate", "--database-url", url], capture_output=True, check=True)
    done = subprocess.run(
        [
            TALLY,
            "demo",
            "--profiles",
            str(profiles),
            "--account",
            f"bench-{uuid.uuid4().hex[:6]}",
            "--database-url",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip().splitlines()[-1]


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.client = httpx.Client(base_url=f"{base}/api/v1.1", timeout=60)
        self.base = base
        self.token = token

    def ok(self, method: str, body: dict[str, Any]) -> Any:
        envelope = self.client.post(f"/{method}", json={"token": self.token, **body}).json()
        if envelope["error"]:
            raise SystemExit(f"{method}: {envelope}")
        return envelope["data"]


def refresh_latency(api: Api, samples: int) -> tuple[list[float], list[str]]:
    seconds, counted = [], []
    for number in range(samples + 5):
        started = time.perf_counter()
        task_id = api.ok("databases/refresh_counters", {"id": 1, "resource_id": 1})["task_id"]
        while (status := api.ok("tasks/status", {"task_id": task_id}))["status"] not in ("completed", "error"):
            time.sleep(0.001)
        if number >= 5:  # warm-up
            seconds.append(time.perf_counter() - started)
            counted.append(COUNTED_IN.match(status["result"][0]["last_count_time"]).group(1))  # type: ignore[union-attr]
    return seconds, counted


def tiny_tasks(api: Api, databases: int = 100, profiles: int = 20) -> float:
    """Completed per second, from the tasks' own created and finished times."""
    ids = [api.ok("databases/add", {"name": f"tiny {n}"})["id"] for n in range(databases)]
    resource = api.ok("resources/add", {"name": "tiny", "channels": ["email"], "dbs_ids": ids})["id"]
    for database_id in ids:
        items = [
            {"email": f"p{n}@example.org", "subscriptions": [{"resource_id": resource, "channel": "email"}]}
            for n in range(profiles)
        ]
        api.ok("profiles/add_batch", {"db_id": database_id, "data": items})
    # Queued at once: eight clients, each with its own connection, share the 100 requests.
    with ThreadPoolExecutor(QUEUEING_CLIENTS) as pool:
        clients = [Api(api.base, api.token) for _ in range(QUEUEING_CLIENTS)]
        tasks = list(
            pool.map(
                lambda n: clients[n % QUEUEING_CLIENTS].ok(
                    "databases/refresh_counters", {"id": ids[n], "resource_id": resource}
                )["task_id"],
                range(len(ids)),
            )
        )
    statuses = []
    for task_id in tasks:
        while (status := api.ok("tasks/status", {"task_id": task_id}))["status"] not in ("completed", "error"):
            time.sleep(0.01)
        statuses.append(status)

    def moment(text: str) -> float:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    first = min(moment(status["created"]) for status in statuses)
    last = max(moment(status["finished"]) for status in statuses)
    return len(statuses) / (last - first)


class FloorDatabase:
    """Bare SQL on Tally's tasks table: one connection per thread, autocommit statements."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self.marker = "%s" if not self.sqlite else "?"

    def connect(self) -> Any:
        if self.sqlite:
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        return psycopg.connect(self.url, autocommit=True)

    def now(self) -> Any:
        moment = datetime.now().astimezone()
        return moment.replace(tzinfo=None).isoformat(sep=" ") if self.sqlite else moment

    def sql(self, statement: str) -> str:
        return statement.replace("%s", self.marker)


def commit_floor(url: str, workers: int, tasks: int = 100) -> float:
    """Completed per second when bare SQL makes the tiny tasks' state changes (see above)."""
    floor = FloorDatabase(url)
    setup = floor.connect()
    account_id = setup.execute("SELECT min(id) FROM accounts").fetchone()[0]
    setup.close()
    skip_locked = "" if floor.sqlite else " FOR UPDATE SKIP LOCKED"
    begin = "BEGIN IMMEDIATE" if floor.sqlite else "BEGIN"
    inserted, finished = threading.Event(), []
    lock = threading.Lock()

    def insert_all() -> None:
        conn = floor.connect()
        for number in range(tasks):
            conn.execute(begin)
            conn.execute(
                floor.sql(
                    "INSERT INTO tasks (id, account_id, kind, params, status, progress, error_text, attempts,"
                    " created_at, scheduled_at, dedupe_key) VALUES (%s, %s, 'floor', '{}', 'queued', 0, '', 0,"
                    " %s, %s, %s) ON CONFLICT DO NOTHING"
                ),
                (str(uuid.uuid4()), account_id, floor.now(), floor.now(), f"floor:{number}:{uuid.uuid4()}"),
            )
            conn.execute("COMMIT")
        inserted.set()
        conn.close()

    def work() -> None:
        conn = floor.connect()
        while True:
            conn.execute(begin)
            claimed = conn.execute(
                floor.sql(
                    "UPDATE tasks SET status = 'processing', lease_owner = 'floor', lease_expires_at = %s,"
                    " attempts = attempts + 1, started_at = %s WHERE id = (SELECT id FROM tasks"
                    " WHERE status = 'queued' AND kind = 'floor' AND scheduled_at <= %s"
                    f" ORDER BY scheduled_at, id LIMIT 1{skip_locked}) RETURNING id"
                ),
                (floor.now(), floor.now(), floor.now()),
            ).fetchone()
            conn.execute("COMMIT")
            if claimed is None:
                if inserted.is_set():
                    break
                continue
            conn.execute(begin)
            conn.execute(
                floor.sql(
                    "UPDATE tasks SET status = 'completed', progress = 100, result = '[]', finished_at = %s,"
                    " lease_owner = NULL, lease_expires_at = NULL WHERE id = %s AND lease_owner = 'floor'"
                ),
                (floor.now(), claimed[0]),
            )
            conn.execute("COMMIT")
            with lock:
                finished.append(time.perf_counter())
        conn.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    insert_all()
    for thread in threads:
        thread.join()
    assert len(finished) == tasks, f"the floor completed {len(finished)} of {tasks} tasks"
    return tasks / (max(finished) - started)


def measure(backend: str, url: str, samples: int) -> dict[str, Any]:
    token = demo(url, 1336)
    workers = 1 if backend == "sqlite" else 2
    with running(url, 0 if backend == "sqlite" else workers) as base:
        api = Api(base, token)
        log(f"{backend}: refresh of 1,336 profiles, {samples} samples")
        seconds, counted = refresh_latency(api, samples)
        log(f"{backend}: tiny tasks")
        rate = tiny_tasks(api)
    log(f"{backend}: commit floor (bare SQL, {workers} worker connection(s))")
    floor = commit_floor(url, workers)
    ordered = sorted(seconds)
    return {
        "backend": backend,
        "median_ms": statistics.median(seconds) * 1000,
        "p90_ms": ordered[int(len(ordered) * 0.9)] * 1000,
        "counted_in_median": sorted(counted)[len(counted) // 2],
        "tiny_tasks_per_s": rate,
        "commit_floor_per_s": floor,
        "share_of_floor": rate / floor,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default=None)
    parser.add_argument("--admin-url", default=os.environ.get("TALLY_BENCH_POSTGRES_URL"))
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--json", type=Path, default=Path("build/bench/latency.json"))
    args = parser.parse_args()
    backend = args.backend or ("both" if args.admin_url else "sqlite")
    if backend != "sqlite" and not args.admin_url:
        parser.error("PostgreSQL needs --admin-url or TALLY_BENCH_POSTGRES_URL")
    results = []
    with tempfile.TemporaryDirectory(prefix="tally-bench-latency-") as directory:
        if backend in ("sqlite", "both"):
            results.append(measure("sqlite", f"sqlite:///{Path(directory) / 'tally.db'}", args.samples))
    if backend in ("postgres", "both"):
        name = f"tally_bench_latency_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(args.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            results.append(measure("postgres", args.admin_url.rpartition("/")[0] + f"/{name}", args.samples))
        finally:
            with psycopg.connect(args.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(
        f"{'backend':9} {'refresh median':>15} {'p90':>9} {'counted in':>12} {'tiny tasks/s':>13}"
        f" {'floor/s':>8} {'share':>6}  targets"
    )
    for result in results:
        median_target, rate_target = TARGETS[result["backend"]]
        verdict = (
            "met" if result["median_ms"] <= median_target and result["tiny_tasks_per_s"] >= rate_target else "NOT met"
        )
        print(
            f"{result['backend']:9} {result['median_ms']:12.1f} ms {result['p90_ms']:6.1f} ms "
            f"{result['counted_in_median']:>12} {result['tiny_tasks_per_s']:13.0f}"
            f" {result['commit_floor_per_s']:8.0f} {result['share_of_floor']:6.1%}  "
            f"<= {median_target:g} ms, >= {rate_target:g}/s: {verdict}"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written: {args.json}")


if __name__ == "__main__":
    main()
