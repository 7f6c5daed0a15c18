"""Pooled PostgreSQL connections the server dropped (store/engine.py): one that sat idle is
pinged and replaced before use; one used a moment ago fails once, as a disconnect, and
every older connection goes with it."""

from __future__ import annotations

import asyncio

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
def pooled(backend: str, database_url: str) -> AsyncEngine:
    if backend != "postgres":
        pytest.skip("the server dropping a connection is a PostgreSQL test")
    return create_engine(database_url)


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    pooled: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.2)
    killer = create_engine(database_url)
    try:
        dropped = await _backend_pid(pooled)
        await _terminate(killer, dropped)
        await asyncio.sleep(0.3)
        assert await _backend_pid(pooled) != dropped  # no error: the ping found it dead
    finally:
        await asyncio.gather(pooled.dispose(), killer.dispose())


async def test_a_connection_used_a_moment_ago_is_not_pinged_and_fails_once(
    pooled: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 60)
    killer = create_engine(database_url)
    try:
        dropped = await _backend_pid(pooled)
        await _terminate(killer, dropped)
        await asyncio.sleep(0.1)
        with pytest.raises(DBAPIError) as raised:
            await _backend_pid(pooled)
        assert is_database_unreachable(raised.value), "the API answers it 503, retry"
        assert await _backend_pid(pooled) != dropped
    finally:
        await asyncio.gather(pooled.dispose(), killer.dispose())
