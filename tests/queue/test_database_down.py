"""A worker whose database cannot be reached (a restart, a failover) keeps trying, and
says so in one line per attempt, not in a traceback (queue/errors.py's log_failed_step)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tally.app import REGISTRY
from tally.config import Settings
from tally.queue.worker import Worker
from tally.store.engine import create_engine
from tests.conftest import free_port


async def test_a_worker_without_its_database_warns_in_one_line_and_keeps_trying(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = free_port()  # bound and released: nothing listens there
    settings = Settings(
        database_url=f"postgresql+psycopg://postgres@127.0.0.1:{closed}/tally", lease_seconds=0.3, poll_interval=0.05
    )
    engine = create_engine(settings.database_url)
    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="tally"):
        running = asyncio.create_task(Worker(engine, settings, REGISTRY).run(stop))
        await asyncio.sleep(0.5)
        stop.set()
        await running
    await engine.dispose()
    claims = [record for record in caplog.records if "claiming failed" in record.getMessage()]
    passes = [record for record in caplog.records if "maintenance pass" in record.getMessage()]
    assert len(claims) >= 2, "it keeps trying"
    assert passes, "maintenance keeps trying too"
    for record in claims + passes:
        assert record.levelno == logging.WARNING and record.exc_info is None, record.getMessage()
        assert record.getMessage().endswith("the database is unreachable (OperationalError)")
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
