"""What the load and fault runs share: a fresh PostgreSQL database, a demo in it, ports,
and waiting for a ``tally serve`` to be ready (bench/loadtest.py, bench/faults.py)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg

TALLY = str(Path(sys.executable).with_name("tally"))


@dataclass(frozen=True)
class Demo:
    token: str
    database_id: int
    resource_id: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def fresh_database(admin_url: str, name: str) -> str:
    """The URL of database ``name``, dropped (if a previous run left it) and created."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url.rpartition('/')[0]}/{name}"


def load_demo(url: str, profiles: int) -> Demo:
    """Migrate, then ``tally demo``: its token, database and resource."""
    subprocess.run([TALLY, "migrate", "--database-url", url], capture_output=True, check=True)
    done = subprocess.run(
        [TALLY, "demo", "--profiles", str(profiles), "--database-url", url], capture_output=True, text=True, check=True
    )
    values = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    return Demo(done.stdout.strip().splitlines()[-1], int(values["database_id"]), int(values["resource_id"]))


def wait_ready(base: str, within: float = 30.0) -> None:
    """Until ``base/readyz`` answers 200; SystemExit if it does not within ``within`` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{base} did not become ready within {within:g} s")
