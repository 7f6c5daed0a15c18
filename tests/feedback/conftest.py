"""Feedback tests: short retry schedules, loopback allowed, and a real receiver per test.

The ``settings`` fixture here replaces the global one for these tests only: deliveries to
127.0.0.0/8 are allowed (the receiver lives there), retries come after about 0.2 s and an
attempt times out after 1 s. Tests of the default policy build their app with
``default_api`` instead, where no network is allowed.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tests.feedback.receiver import Receiver
from tests.feedback.support import LOOPBACK, SCHEDULE
from tests.helpers import Api, make_app


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        lease_seconds=5.0,
        poll_interval=0.05,
        feedback_retry_schedule=SCHEDULE,
        feedback_allowed_networks=LOOPBACK,
        feedback_timeout=1.0,
        shutdown_grace=2.0,
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def default_settings(settings: Settings) -> Settings:
    """The default SSRF policy: no network allowed."""
    return settings.with_(feedback_allowed_networks=())


@pytest.fixture
async def idle_api(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Api]:
    """Like ``api``, without the embedded worker: tasks wait until the test runs a worker."""
    async with make_app(settings, embedded_worker=False) as client:
        yield await Api.for_new_account(client, engine)


@pytest.fixture
async def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names the event loop's resolver answers from a table (e.g. a DNS rebinding)."""
    table: dict[str, list[str]] = {}
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host in table:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in table[host]]
        return await real(host, port, *args, **kwargs)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    return table
