"""The production shape for real: ``tally serve --no-worker`` and a separate ``tally worker``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from tally.cli.main import cli
from tests.conftest import free_port

pytestmark = pytest.mark.slow

TALLY = Path(sys.executable).parent / "tally"


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts; any still running at the end are killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _start(processes: list[subprocess.Popen[bytes]], args: list[str], log: Path) -> subprocess.Popen[bytes]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TALLY_")}
    env["TALLY_POLL_INTERVAL"] = "0.1"
    with log.open("wb") as stderr:
        process = subprocess.Popen([str(TALLY), *args], stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    processes.append(process)
    return process


def _call(base: str, method: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{base}/api/v1.1/{method}", json=body, timeout=10)
    envelope = response.json()
    assert envelope["error"] == 0, envelope
    return envelope["data"]


def _wait_ready(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        assert process.poll() is None, log.read_text()
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)


def test_serve_no_worker_queues_and_worker_process_runs(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    url = f"sqlite:///{tmp_path / 'tally.db'}"
    demo = CliRunner().invoke(cli, ["demo", "--profiles", "50", "--database-url", url], prog_name="tally")
    assert demo.exit_code == 0, demo.output
    lines = demo.stdout.splitlines()
    database_id, resource_id = (int(line.split(": ")[1]) for line in lines[1:3])
    token = lines[-1]

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve_log = tmp_path / "serve.log"
    server = _start(processes, ["serve", "--no-worker", "--port", str(port), "--database-url", url], serve_log)
    _wait_ready(base, server, serve_log)
    task_id = _call(
        base, "databases/refresh_counters", {"token": token, "id": database_id, "resource_id": resource_id}
    )["task_id"]
    time.sleep(0.3)
    assert _call(base, "tasks/status", {"token": token, "task_id": task_id})["status"] == "queued"

    worker = _start(processes, ["worker", "--database-url", url], tmp_path / "worker.log")
    deadline = time.monotonic() + 20
    while (status := _call(base, "tasks/status", {"token": token, "task_id": task_id}))["status"] != "completed":
        assert status["status"] in ("queued", "processing"), status
        assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()
        time.sleep(0.05)
    assert status["result"][0]["total_count"] == 50

    for process in (worker, server):
        process.send_signal(signal.SIGTERM)
    # Uvicorn re-raises the signal once it has shut down cleanly, as servers conventionally do.
    assert [worker.wait(10), server.wait(35)] == [0, -signal.SIGTERM]
    assert "Application shutdown complete" in serve_log.read_text()
