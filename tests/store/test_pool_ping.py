"""Pooled PostgreSQL connections the server dropped (store/engine.py): one that sat idle is
pinged and replaced before use; one used a moment ago fails once, as a disconnect, and
every older connection goes with it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.store import engine as engine_module
from tally.store.engine import create_engine, is_database_unreachable, read_statements

pytestmark = pytest.mark.usefixtures("engine")  # the database exists and is migrated


async def _backend_pid(pooled: AsyncEngine) -> int:
    async with read_statements(pooled) as conn:
        return int(await conn.scalar(text("SELECT pg_backend_pid()")))


async def _terminate(killer: AsyncEngine, pid: int) -> None:
    """End the backend ``pid`` and wait until it is gone (the call only signals it)."""
    async with read_statements(killer) as conn:
        assert await conn.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        for _ in range(500):
            if not await conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}):
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} still there")


@pytest.fixture
async def engines(backend: str, database_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    """The pool under test, and another engine to end its backends with."""
    if backend != "postgres":
        pytest.skip("the server dropping a connection is a PostgreSQL test")
    pooled, killer = create_engine(database_url), create_engine(database_url)
    yield pooled, killer
    await asyncio.gather(pooled.dispose(), killer.dispose())


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    engines: tuple[AsyncEngine, AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.2)
    pooled, killer = engines
    dropped = await _backend_pid(pooled)
    await _terminate(killer, dropped)
    await asyncio.sleep(0.3)  # idle past the window
    assert await _backend_pid(pooled) != dropped  # no error: the ping found it dead


async def test_a_connection_used_a_moment_ago_is_not_pinged_and_fails_once(
    engines: tuple[AsyncEngine, AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 60)
    pooled, killer = engines
    dropped = await _backend_pid(pooled)
    await _terminate(killer, dropped)
    with pytest.raises(DBAPIError) as raised:
        await _backend_pid(pooled)
    assert is_database_unreachable(raised.value), "the API answers it 503, retry"
    assert await _backend_pid(pooled) != dropped
