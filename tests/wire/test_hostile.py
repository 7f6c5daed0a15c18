"""Hostile inputs on a real ``tally serve`` (tests/wire/hostile.py): each gets its error in
the envelope, the server keeps serving, and what each made the server hold at its peak is
recorded in build/test-artifacts/hostile/ (``make bench`` prints it as a table:
bench/hostile.py).

The bound asserted is coarse on purpose, a fault detector rather than a target: the
expansions these inputs try would take gigabytes, the body limit (10 MiB) caps the rest.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.processes import TALLY, tally_processes
from tests.wire.hostile import BODY_TIMEOUT, CATALOGUE, Hostile, exchange, with_peak_growth

pytestmark = pytest.mark.slow

#: No input may make the server's peak grow by more than this (MiB).
PEAK_BOUND_MIB = 96
#: One file per pytest worker (each runs part of the inputs); bench/hostile.py runs them all in one.
RECORDS = Path("build/test-artifacts/hostile")


class Server:
    def __init__(self, port: int, pid: int, token: str) -> None:
        self.port = port
        self.pid = pid
        self.token = token
        #: Per input: its reply, bytes sent, seconds and the server's peak growth (MiB).
        self.record: list[dict[str, object]] = []


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("hostile")
    database_url = f"sqlite:///{directory / 'hostile.db'}"
    created = subprocess.run(
        [TALLY, "token", "create", "--account", "hostile", "--database-url", database_url],
        capture_output=True,
        text=True,
        check=True,
    )
    token = created.stdout.strip().splitlines()[-1]
    with tally_processes(database_url, directory, {"TALLY_BODY_TIMEOUT": str(BODY_TIMEOUT)}) as processes:
        port = free_port()
        process = processes.serve(port, "--no-worker", "--log-level", "warning")
        served = Server(port, process.pid, token)
        yield served
    RECORDS.mkdir(parents=True, exist_ok=True)
    (RECORDS / f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.json").write_text(json.dumps(served.record, indent=1))


@pytest.mark.parametrize("hostile", CATALOGUE, ids=lambda hostile: hostile.name)
def test_a_hostile_input_gets_its_error_and_the_server_stays_well(server: Server, hostile: Hostile) -> None:
    reply, peak = with_peak_growth(server.pid, lambda: exchange(server.port, hostile.send, server.token))
    server.record.append(
        {
            "input": hostile.name,
            "status": reply.status,
            "sent_bytes": reply.sent,
            "seconds": reply.seconds,
            "peak_mib": peak,
        }
    )
    assert reply.status == hostile.status, reply
    assert reply.envelope["error"] == hostile.status, reply
    assert hostile.text in str(reply.envelope["error_text"]), reply
    assert peak < PEAK_BOUND_MIB, f"{hostile.name}: the server's peak grew {peak:.1f} MiB"
    after = httpx.post(
        f"http://127.0.0.1:{server.port}/api/v1.1/databases/list", headers={"Authorization": f"Bearer {server.token}"}
    )
    assert after.status_code == 200, after.text
