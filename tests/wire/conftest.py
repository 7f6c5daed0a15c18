"""Fixtures of the wire tests: a real server process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

MAX_BODY_BYTES = 1000
SERVER_START_TIMEOUT = 20.0


@dataclass(frozen=True)
class LiveServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``tally serve`` on 127.0.0.1 with TALLY_MAX_BODY_BYTES=1000, for the module."""
    directory = tmp_path_factory.mktemp("live")
    port = _free_port()
    tally = Path(sys.executable).parent / "tally"
    command = [str(tally), "serve", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--database-url", f"sqlite:///{directory / 't.db'}", "--log-level", "warning"]
    env = {**os.environ, "TALLY_MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    env.pop("TALLY_DATABASE_URL", None)
    log = (directory / "server.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(process, port, directory / "server.log")
        yield LiveServer("127.0.0.1", port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_healthy(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tally serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"tally serve did not answer /healthz within {SERVER_START_TIMEOUT}s:\n{log.read_text()}")
