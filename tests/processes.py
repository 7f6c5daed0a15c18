"""Real ``tally`` processes for acceptance tests: started, awaited, and always stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

TALLY = str(Path(sys.executable).with_name("tally"))


def sync_url(database_url: str) -> str:
    """The URL as the CLI takes it (it picks the async driver itself)."""
    return database_url.replace("sqlite+aiosqlite://", "sqlite://").replace("postgresql+psycopg://", "postgresql://")


class TallyProcesses:
    """Starts tally commands; stops every one of them at the end of the ``with``."""

    def __init__(self, database_url: str, log_dir: Path, env: dict[str, str] | None = None) -> None:
        self.database_url = sync_url(database_url)
        self.log_dir = log_dir
        self.env = {**os.environ, "TALLY_POLL_INTERVAL": "0.1", **(env or {})}
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"tally-{len(self.started)}-{args[0]}.log").open("wb")
        process = subprocess.Popen(
            [TALLY, *args, "--database-url", self.database_url],
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(process)
        return process

    def serve(self, port: int, *extra: str) -> subprocess.Popen[bytes]:
        process = self.start("serve", "--host", "127.0.0.1", "--port", str(port), *extra)
        wait_until_healthy(port, process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.started:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def logs(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in sorted(self.log_dir.glob("tally-*.log")))


@contextmanager
def tally_processes(database_url: str, log_dir: Path, env: dict[str, str] | None = None) -> Iterator[TallyProcesses]:
    processes = TallyProcesses(database_url, log_dir, env)
    try:
        yield processes
    finally:
        processes.stop_all()


def wait_until_healthy(port: int, process: subprocess.Popen[bytes], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tally exited with {process.returncode} before serving on {port}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"tally did not serve on port {port} within {within}s")
