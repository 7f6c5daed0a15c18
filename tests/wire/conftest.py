"""Fixtures of the wire tests: a real server process."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import free_port
from tests.processes import tally_processes

MAX_BODY_BYTES = 1024  # the smallest TALLY_MAX_BODY_BYTES allows


@dataclass(frozen=True)
class LiveServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``tally serve`` on 127.0.0.1 with TALLY_MAX_BODY_BYTES=1024, for the module."""
    directory = tmp_path_factory.mktemp("live")
    env = {"TALLY_MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    with tally_processes(f"sqlite:///{directory / 't.db'}", directory, env) as processes:
        port = free_port()
        processes.serve(port, "--log-level", "warning")
        yield LiveServer("127.0.0.1", port)
