"""Load on loopback: locust (as a library, headless) against 2 ``tally serve`` processes
and 2 ``tally worker`` processes on PostgreSQL. ``make loadtest``; not part of ``make test``.

It creates the database ``tally_loadtest`` afresh (dropping the one a previous run left),
loads a demo of ``--profiles`` profiles, then runs three phases with the same number of
users, each user sending its next request as soon as the last one is answered, half of
them to each API process:

1. ``GET /healthz`` alone, the ceiling of the HTTP stack (``--baseline`` seconds);
2. ``tasks/status`` alone, the same length;
3. the mix, for ``--duration`` seconds: tasks/status 50 %, databases/get_counters 25 %,
   profiles/import 15 % (a new or known address, with an email subscription), and
   databases/refresh_counters 10 % (which the workers count).

It prints one table per phase (requests, req/s, p50, p99, errors: any reply that is not
200 with ``error`` 0), the share of tasks/status polls the API processes answered from
memory (``tally_task_status_polls_total`` on their /metrics), and the targets of issue
12: no errors, tasks/status p99 under 100 ms in the mix, tasks/status alone at least half
the req/s of /healthz alone.

    python bench/loadtest.py [--admin-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--users 32] [--duration 60] [--baseline 15] [--profiles 20000] [--json FILE]
"""

from __future__ import annotations

# isort: off
# locust patches the standard library for gevent: it is imported before anything else.
import locust  # noqa: F401
# isort: on

import argparse
import json
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, task
from locust.env import Environment
from stack import TALLY, free_port, fresh_database, load_demo, wait_ready

DATABASE = "tally_loadtest"
STATUS = "tasks/status"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Target:
    """What the users share: the two API processes, a token, the demo's ids, task ids."""

    bases: list[str]
    token: str
    database_id: int
    resource_id: int
    task_ids: list[str]


TARGET: Target


class TallyUser(FastHttpUser):
    abstract = True
    wait_time = constant(0)

    def call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one method; anything but a 200 envelope with error 0 is a failure."""
        headers = {"Authorization": f"Bearer {TARGET.token}"}
        with self.client.post(
            f"/api/v1.1/{method}", json=body, headers=headers, name=method, catch_response=True
        ) as reply:
            envelope: dict[str, Any] = {}
            with suppress(ValueError):
                envelope = reply.json()
            if reply.status_code != 200 or envelope.get("error") != 0:
                reply.failure(f"{reply.status_code}: {reply.text[:200]}")
            return envelope

    def refresh(self) -> None:
        body = {"id": TARGET.database_id, "resource_id": TARGET.resource_id}
        task_id = self.call("databases/refresh_counters", body).get("data", {}).get("task_id")
        if task_id:
            TARGET.task_ids.append(task_id)
            del TARGET.task_ids[:-100]


class HealthzUser(TallyUser):
    abstract = True

    @task
    def healthz(self) -> None:
        self.client.get("/healthz", name="GET /healthz")


class StatusUser(TallyUser):
    abstract = True

    @task
    def status(self) -> None:
        self.call(STATUS, {"task_id": random.choice(TARGET.task_ids)})


class MixUser(TallyUser):
    abstract = True

    @task(50)
    def status(self) -> None:
        self.call(STATUS, {"task_id": random.choice(TARGET.task_ids)})

    @task(25)
    def get_counters(self) -> None:
        self.call("databases/get_counters", {"id": TARGET.database_id, "resource_id": TARGET.resource_id})

    @task(15)
    def profile_import(self) -> None:
        email = f"load-{random.randrange(100_000)}@example.org"
        subscription = {"resource_id": TARGET.resource_id, "channel": "email", "email": email, "status": "subscribed"}
        body = {
            "db_id": TARGET.database_id,
            "matching": "email",
            "email": email,
            "data": {"subscriptions": [subscription]},
        }
        self.call("profiles/import", body)

    @task(10)
    def refresh_task(self) -> None:
        self.refresh()


def per_process(user: type[TallyUser]) -> list[type[TallyUser]]:
    """The user class once per API process (locust gives each class its own host)."""
    return [type(f"{user.__name__}{index}", (user,), {"host": base}) for index, base in enumerate(TARGET.bases)]


@dataclass(frozen=True)
class Row:
    name: str
    requests: int
    per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def run_phase(user: type[TallyUser], users: int, seconds: float) -> list[Row]:
    environment = Environment(user_classes=per_process(user))
    runner = environment.create_local_runner()
    runner.start(users, spawn_rate=users)
    gevent.sleep(seconds)
    runner.stop()
    runner.quit()
    rows = []
    for entry in sorted(environment.stats.entries.values(), key=lambda entry: -entry.num_requests):
        rows.append(
            Row(
                entry.name,
                entry.num_requests,
                entry.num_requests / seconds,
                entry.get_response_time_percentile(0.5),
                entry.get_response_time_percentile(0.99),
                entry.num_failures,
            )
        )
    for error in environment.stats.errors.values():
        log(f"  {error.occurrences} x {error.name}: {error.error}")
    return rows


def print_table(title: str, rows: list[Row]) -> None:
    print(f"\n{title}")
    print(f"{'method':<30} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>7}")
    for row in rows:
        timing = f"{row.p50_ms:>7.0f} {row.p99_ms:>7.0f}"
        print(f"{row.name:<30} {row.requests:>9} {row.per_second:>8.0f} {timing} {row.errors:>7}")
    requests, per_second, errors = (
        sum(getattr(row, name) for row in rows) for name in ("requests", "per_second", "errors")
    )
    print(f"{'all':<30} {requests:>9} {per_second:>8.0f} {'':>7} {'':>7} {errors:>7}")


@contextmanager
def processes(url: str, log_dir: Path) -> Iterator[list[str]]:
    """2 ``tally serve --no-worker`` and 2 ``tally worker``; the API base URLs."""
    ports = [free_port(), free_port()]
    commands = [[TALLY, "serve", "--no-worker", "--port", str(port), "--log-level", "warning"] for port in ports]
    commands += [[TALLY, "worker"], [TALLY, "worker"]]
    log_dir.mkdir(parents=True, exist_ok=True)
    started = []
    for index, command in enumerate(commands):
        output = (log_dir / f"{index}-{command[1]}.log").open("wb")
        started.append(subprocess.Popen([*command, "--database-url", url], stdout=output, stderr=subprocess.STDOUT))
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base in bases:
            wait_ready(base)
        yield bases
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
        for process in started:
            process.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--users", type=int, default=32, help="concurrent users in each phase")
    parser.add_argument("--duration", type=float, default=60, help="seconds of the mix")
    parser.add_argument("--baseline", type=float, default=15, help="seconds of each single-method phase")
    parser.add_argument("--profiles", type=int, default=20_000)
    parser.add_argument("--json", type=Path, help="also write the tables here")
    args = parser.parse_args()
    global TARGET

    url = fresh_database(args.admin_url, DATABASE)
    log(f"loading {args.profiles} demo profiles into {DATABASE}...")
    demo = load_demo(url, args.profiles)
    with processes(url, Path("build/loadtest")) as bases:
        TARGET = Target(bases, demo.token, demo.database_id, demo.resource_id, [])
        _seed_tasks()
        log(f"phase 1: GET /healthz, {args.users} users, {args.baseline:g} s")
        healthz = run_phase(HealthzUser, args.users, args.baseline)
        log(f"phase 2: {STATUS} alone, {args.users} users, {args.baseline:g} s")
        before = polls_by_answer(bases)
        status = run_phase(StatusUser, args.users, args.baseline)
        after_status = polls_by_answer(bases)
        log(f"phase 3: the mix, {args.users} users, {args.duration:g} s")
        mix = run_phase(MixUser, args.users, args.duration)
        after_mix = polls_by_answer(bases)

    print_table(f"GET /healthz alone ({args.users} users, 2 API processes)", healthz)
    print_table(f"{STATUS} alone", status)
    print_table(f"The mix, {args.duration:g} s (2 API processes, 2 workers, PostgreSQL)", mix)
    print(f"\n{STATUS} polls answered from memory (queue/known_statuses.py)")
    for phase, start, end in (("alone", before, after_status), ("in the mix", after_status, after_mix)):
        remembered, read = (end[answer] - start[answer] for answer in ("remembered", "read"))
        print(f"  {phase}: {remembered / max(remembered + read, 1):.1%} of {remembered + read}")
    report(healthz, status, mix)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        phases = {"healthz": healthz, "status": status, "mix": mix}
        args.json.write_text(
            json.dumps({name: [row.__dict__ for row in rows] for name, rows in phases.items()}, indent=1)
        )


def polls_by_answer(bases: list[str]) -> Counter[str]:
    """tasks/status polls answered so far, by ``answer`` (remembered, read), summed over ``bases``."""
    totals: Counter[str] = Counter()
    for base in bases:
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as reply:
            for line in reply.read().decode().splitlines():
                found = POLLS_LINE.fullmatch(line)
                if found:
                    totals[found["answer"]] += int(float(found["value"]))
    return totals


POLLS_LINE = re.compile(r'tally_task_status_polls_total\{answer="(?P<answer>\w+)"\} (?P<value>\S+)')


def _seed_tasks() -> None:
    """A few refresh tasks, so that tasks/status has ids to ask about from the start."""
    for base in TARGET.bases:
        body = json.dumps({"id": TARGET.database_id, "resource_id": TARGET.resource_id}).encode()
        request = urllib.request.Request(
            f"{base}/api/v1.1/databases/refresh_counters",
            data=body,
            headers={"Authorization": f"Bearer {TARGET.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as reply:
            TARGET.task_ids.append(json.loads(reply.read())["data"]["task_id"])
        time.sleep(0.5)  # a worker takes it, so that the next refresh is a new task


def report(healthz: list[Row], status: list[Row], mix: list[Row]) -> None:
    errors = sum(row.errors for rows in (healthz, status, mix) for row in rows)
    mixed_status = next(row for row in mix if row.name == STATUS)
    ratio = status[0].per_second / healthz[0].per_second
    print("\nTargets (issue 12)")
    print(f"  errors in all phases: {errors} (target 0): {'met' if errors == 0 else 'NOT met'}")
    met = "met" if mixed_status.p99_ms < 100 else "NOT met"
    print(f"  {STATUS} p99 in the mix: {mixed_status.p99_ms:.0f} ms (target under 100 ms): {met}")
    met = "met" if ratio >= 0.5 else "NOT met"
    print(f"  {STATUS} alone / GET /healthz alone: {ratio:.2f} (target at least 0.5): {met}")


if __name__ == "__main__":
    main()
