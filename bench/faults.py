"""Faults under load, then an audit: ``make faults`` (not part of ``make test``: it restarts
the PostgreSQL server, which other tests would be using).

On a fresh database ``tally_faults``: 2 ``tally serve --no-worker`` and 2 ``tally worker``
processes, a feedback receiver on 127.0.0.1, and client threads that for ``--duration``
seconds send

* profiles/import of a new address each time, subscribed or not at random (single imports),
* profiles/import_batch of 50 new addresses (bulk imports),
* databases/refresh_counters with a feedback URL of its own (refreshes and deliveries; the
  receiver answers 503 to one delivery attempt in five, so retries happen too),

while TALLY_RECONCILE_HOURS=0.001 keeps recounts of the maintained counts running. Every
``--kill-every`` seconds one of the four processes, at random, is killed with SIGKILL and
started again; halfway through, the PostgreSQL server itself is restarted
(``--restart-command``). Then the load stops, everything is left to settle, and the audit
checks what issue 12 asks:

1. every acknowledged write is present: each address whose import got 200 is a profile,
   with the subscription status it was sent with;
2. every accepted task reaches a final state (completed or error), none stays queued;
3. the maintained counts equal a recount: a reconcile task that starts after the load
   finds no difference, and no reconcile during the run corrected one;
4. no delivery is lost: each acknowledged refresh's feedback URL was received (at least
   once; repeats, from a kill between the answer and its record, are counted).

A request that got no answer (its process was killed, or the database restarted under it)
is not acknowledged: its write may or may not be there, and the audit says how many.

    python bench/faults.py [--admin-url URL] [--duration 60] [--kill-every 4] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
from stack import TALLY, free_port, fresh_database, load_demo, wait_ready

DATABASE = "tally_faults"
RESTART = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main restart"
LOGS = Path("build/faults")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Receiver:
    """Feedback on 127.0.0.1: records each delivery's path; one attempt in five gets 503."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.refused = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                if random.random() < 0.2:
                    receiver.refused += 1
                    self.send_response(503)
                else:
                    receiver.received[self.path] += 1
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook/{name}"


@dataclass
class Processes:
    """The four tally processes, each restartable under its own command."""

    url: str
    env: dict[str, str]
    ports: list[int] = field(default_factory=lambda: [free_port(), free_port()])
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: Counter[str] = field(default_factory=Counter)

    def commands(self) -> dict[str, list[str]]:
        serve = [[TALLY, "serve", "--no-worker", "--port", str(port), "--log-level", "warning"] for port in self.ports]
        return {"api-0": serve[0], "api-1": serve[1], "worker-0": [TALLY, "worker"], "worker-1": [TALLY, "worker"]}

    def start(self, name: str) -> None:
        output = (LOGS / f"{name}.log").open("ab")
        command = [*self.commands()[name], "--database-url", self.url]
        self.running[name] = subprocess.Popen(command, env=self.env, stdout=output, stderr=subprocess.STDOUT)

    def kill_one(self) -> str:
        name = random.choice(sorted(self.running))
        self.running[name].send_signal(signal.SIGKILL)
        self.running[name].wait()
        self.kills[name.split("-")[0]] += 1
        self.start(name)
        return name

    def stop(self) -> None:
        for process in self.running.values():
            process.send_signal(signal.SIGTERM)
        for process in self.running.values():
            process.wait(timeout=60)


@dataclass
class Ledger:
    """What the clients were told: acknowledged writes and tasks, and what got no answer."""

    profiles: dict[str, int] = field(default_factory=dict)  # email -> status sent (acknowledged)
    unanswered_profiles: set[str] = field(default_factory=set)
    tasks: set[str] = field(default_factory=set)
    hooks: set[str] = field(default_factory=set)  # feedback names of acknowledged refreshes
    unanswered: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Client:
    def __init__(self, bases: list[str], token: str, database_id: int, resource_id: int, receiver: Receiver) -> None:
        self.bases, self.token, self.receiver = bases, token, receiver
        self.database_id, self.resource_id = database_id, resource_id
        self.ledger = Ledger()
        self.sequence = iter(range(10**9))
        self.sequence_lock = threading.Lock()

    def next_name(self) -> str:
        with self.sequence_lock:
            return f"{next(self.sequence):07d}"

    def post(self, client: httpx.Client, method: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The ``data`` of an acknowledged call; None when there was no answer or an error."""
        base = random.choice(self.bases)
        try:
            reply = client.post(
                f"{base}/api/v1.1/{method}", json=body, headers={"Authorization": f"Bearer {self.token}"}
            )
        except httpx.TransportError:
            with self.ledger.lock:
                self.ledger.unanswered[method] += 1
            return None
        envelope = reply.json()
        if reply.status_code != 200 or envelope["error"] != 0:
            with self.ledger.lock:
                self.ledger.refused[f"{method} {reply.status_code}"] += 1
            return None
        data: dict[str, Any] = envelope["data"]
        return data

    def subscription(self, email: str, status: int) -> dict[str, Any]:
        return {"resource_id": self.resource_id, "channel": "email", "email": email, "status": status}

    def import_one(self, client: httpx.Client) -> None:
        email, status = f"one-{self.next_name()}@example.org", random.choice((0, 1))  # subscribed, unsubscribed
        body = {"db_id": self.database_id, "matching": "email", "email": email}
        body["data"] = {"subscriptions": [self.subscription(email, status)]}
        done = self.post(client, "profiles/import", body)
        with self.ledger.lock:
            if done is not None:
                self.ledger.profiles[email] = status
            else:
                self.ledger.unanswered_profiles.add(email)

    def import_batch(self, client: httpx.Client) -> None:
        emails = [f"batch-{self.next_name()}@example.org" for _ in range(50)]
        statuses = {email: random.choice((0, 1)) for email in emails}
        items = [{"email": email, "subscriptions": [self.subscription(email, statuses[email])]} for email in emails]
        done = self.post(
            client, "profiles/import_batch", {"db_id": self.database_id, "matching": "email", "data": items}
        )
        with self.ledger.lock:
            if done is None:
                self.ledger.unanswered_profiles.update(emails)
                return
            for email, item in zip(emails, done, strict=True):
                if item["error"] == 0:
                    self.ledger.profiles[email] = statuses[email]

    def refresh(self, client: httpx.Client) -> None:
        name = self.next_name()
        body = {"id": self.database_id, "resource_id": self.resource_id}
        body["feedback"] = {"type": "JSON", "url": self.receiver.url(name)}
        done = self.post(client, "databases/refresh_counters", body)
        if done is not None:
            with self.ledger.lock:
                self.ledger.tasks.add(done["task_id"])
                self.ledger.hooks.add(name)

    def run(self, stop: threading.Event) -> None:
        with httpx.Client(timeout=30) as client:
            while not stop.is_set():
                random.choices([self.import_one, self.import_batch, self.refresh], weights=[6, 2, 2])[0](client)


def wait_until(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (psycopg.OperationalError, httpx.TransportError):
            pass
        time.sleep(0.5)
    log(f"gave up waiting for {what} after {within:g} s")


@contextmanager
def database(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def audit(url: str, client: Client, receiver: Receiver, settle_from: float) -> dict[str, Any]:
    ledger = client.ledger
    with database(url) as conn:
        rows = conn.execute(
            "SELECT p.email, s.status FROM profiles p JOIN subscriptions s ON s.profile_id = p.id "
            "WHERE p.database_id = %s AND s.resource_id = %s AND NOT s.is_deleted"
            " AND (p.email LIKE 'one-%%' OR p.email LIKE 'batch-%%')",
            (client.database_id, client.resource_id),
        ).fetchall()
        stored = {email: status for email, status in rows}
        tasks = dict(conn.execute("SELECT id, status FROM tasks WHERE id = ANY(%s)", (list(ledger.tasks),)).fetchall())
        stuck = conn.execute("SELECT count(*) FROM tasks WHERE status IN ('queued', 'processing')").fetchone()
        reconciles = conn.execute(
            "SELECT result, started_at FROM tasks WHERE kind = 'reconcile_counts' AND status = 'completed'"
        ).fetchall()
        deliveries = Counter(status for (status,) in conn.execute("SELECT status FROM feedback_deliveries").fetchall())
    missing = [email for email in ledger.profiles if email not in stored]
    wrong = [email for email, status in ledger.profiles.items() if email in stored and stored[email] != status]
    not_final = [task for task in ledger.tasks if tasks.get(task) not in ("completed", "error")]
    after = [result for result, started in reconciles if started.timestamp() >= settle_from]
    corrected = [result for result, _ in reconciles if result and result.get("differences")]
    lost = [name for name in ledger.hooks if receiver.received[f"/hook/{name}"] == 0]
    repeats = sum(count - 1 for count in receiver.received.values() if count > 1)
    unanswered_present = sum(1 for email in ledger.unanswered_profiles if email in stored)
    return {
        "acknowledged profiles": len(ledger.profiles),
        "  missing": len(missing),
        "  with another status": len(wrong),
        "unanswered profile writes": len(ledger.unanswered_profiles),
        "  of which stored anyway": unanswered_present,
        "accepted tasks (refreshes)": len(ledger.tasks),
        "  not final": len(not_final),
        "  ended in error": sum(1 for task in ledger.tasks if tasks.get(task) == "error"),
        "tasks still queued or processing (all kinds)": stuck[0] if stuck else 0,
        "reconciliations in all": len(reconciles),
        "  that corrected a difference": len(corrected),
        "  started after the load, finding none": len([r for r in after if not r.get("differences")]),
        "acknowledged feedback URLs": len(ledger.hooks),
        "  never received": len(lost),
        "  received more than once (extra copies)": repeats,
        "deliveries by status": dict(deliveries),
        "attempts refused by the receiver (503)": receiver.refused,
        "calls without an answer": dict(ledger.unanswered),
        "calls answered with an error": dict(ledger.refused),
        "examples": {"missing": missing[:5], "wrong": wrong[:5], "not final": not_final[:5], "lost": lost[:5]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--kill-every", type=float, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--restart-command", default=RESTART, help="restarts the PostgreSQL server (a shell line)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    LOGS.mkdir(parents=True, exist_ok=True)
    url = fresh_database(args.admin_url, DATABASE)
    demo = load_demo(url, 1000)
    receiver = Receiver()
    env = {
        **os.environ,
        "TALLY_LEASE_SECONDS": "3",
        "TALLY_POLL_INTERVAL": "0.2",
        "TALLY_RECONCILE_HOURS": "0.001",
        "TALLY_FEEDBACK_ALLOWED_NETWORKS": "127.0.0.0/8",
        "TALLY_FEEDBACK_RETRY_SCHEDULE": "0.5,1,2,2,2,2,2,2",
        "TALLY_FEEDBACK_TIMEOUT": "5",
        "TALLY_MAX_ATTEMPTS": "10",
    }
    processes = Processes(url, env)
    for name in processes.commands():
        processes.start(name)
    bases = [f"http://127.0.0.1:{port}" for port in processes.ports]
    for base in bases:
        wait_ready(base)
    client = Client(bases, demo.token, demo.database_id, demo.resource_id, receiver)
    stop = threading.Event()
    threads = [threading.Thread(target=client.run, args=(stop,)) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    log(f"load on, {args.clients} clients, {args.duration:g} s; a SIGKILL every {args.kill_every:g} s")
    started = time.monotonic()
    restarted = False
    while (elapsed := time.monotonic() - started) < args.duration:
        time.sleep(args.kill_every)
        log(f"SIGKILL {processes.kill_one()}")
        if not restarted and elapsed > args.duration / 2:
            log("restarting PostgreSQL")
            subprocess.run(args.restart_command, shell=True, check=True)
            restarted = True
            log("PostgreSQL is back")
    stop.set()
    for thread in threads:
        thread.join()
    settle_from = time.time()
    log("load off; waiting for every task and delivery to end")

    def settled() -> bool:
        with database(url) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM tasks"
                "   WHERE status IN ('queued', 'processing') AND kind <> 'reconcile_counts'),"
                " (SELECT count(*) FROM feedback_deliveries WHERE status IN ('waiting', 'pending')),"
                " (SELECT count(*) FROM tasks WHERE kind = 'reconcile_counts' AND status = 'completed'"
                "   AND started_at >= to_timestamp(%s))",
                (settle_from,),
            ).fetchone()
        return row is not None and row[0] == 0 and row[1] == 0 and row[2] > 0

    wait_until(settled, 180, "every task and delivery to end")
    processes.stop()
    result = audit(url, client, receiver, settle_from)
    result["kills"] = dict(processes.kills)
    result["PostgreSQL restarts"] = int(restarted)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    lost = result["  missing"] + result["  with another status"] + result["  not final"] + result["  never received"]
    sys.exit(1 if lost or result["  that corrected a difference"] else 0)


if __name__ == "__main__":
    main()
