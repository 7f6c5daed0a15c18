"""store/sqlite_driver.py: fewer thread jobs, the same transactions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.store import sqlite_driver
from tally.store.engine import create_engine, read_transaction, write_transaction


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    async with write_transaction(engine) as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def jobs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every job handed to a connection's thread."""
    names: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        names.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return names


async def test_a_transaction_of_one_statement_is_two_jobs(engine: AsyncEngine, jobs: list[str]) -> None:
    async with read_transaction(engine) as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    # BEGIN rides with the statement; the commit is the second; the pool's reset is none.
    assert len(jobs) == 2


async def test_a_transaction_without_statements_makes_no_job(engine: AsyncEngine, jobs: list[str]) -> None:
    async with write_transaction(engine):
        pass
    assert jobs == []


async def test_rows_are_fetched_with_the_statement(engine: AsyncEngine) -> None:
    async with write_transaction(engine) as conn:
        await conn.execute(text("INSERT INTO t VALUES (1), (2), (3)"))
        rows = (await conn.execute(text("SELECT n FROM t ORDER BY n"))).all()
    assert [row.n for row in rows] == [1, 2, 3]


async def test_the_cursor_serves_fetched_rows_in_order(tmp_path: Path) -> None:
    async with sqlite_driver.connect(str(tmp_path / "rows.db")) as connection, connection.cursor() as cursor:
        await cursor.execute("SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4")
        assert await cursor.fetchone() == (1,)
        assert await cursor.fetchmany(2) == [(2,), (3,)]
        assert await cursor.fetchall() == [(4,)]
        assert await cursor.fetchone() is None


async def test_a_rolled_back_write_transaction_leaves_nothing(engine: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        async with write_transaction(engine) as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            raise RuntimeError("stop")
    async with read_transaction(engine) as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_writers_still_take_the_lock_up_front_and_queue(engine: AsyncEngine) -> None:
    """Read-then-write by two writers at once: BEGIN IMMEDIATE, sent with the first
    statement, still makes the second wait for the first, so no increment is lost."""

    async def increment() -> None:
        async with write_transaction(engine) as conn:
            current = (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one()
            await asyncio.sleep(0.01)  # the other writer gets the loop meanwhile
            await conn.execute(text("INSERT INTO t VALUES (:n)"), {"n": current + 1})

    await asyncio.gather(*(increment() for _ in range(8)))
    async with read_transaction(engine) as conn:
        numbers = (await conn.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
    assert numbers == list(range(1, 9))


async def test_a_begin_that_cannot_get_the_lock_fails_its_statement_and_leaves_no_trace(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Another process holds the write lock past the busy timeout: the statement that carried
    BEGIN IMMEDIATE fails, and the connection's next transaction starts clean."""
    async with sqlite_driver.connect(str(tmp_path / "driver.db")) as holder:
        await holder.execute("BEGIN IMMEDIATE")
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA busy_timeout=50")
            await conn.commit()
        with pytest.raises(OperationalError, match="locked"):
            async with write_transaction(engine) as conn:
                await conn.execute(text("INSERT INTO t VALUES (1)"))
        await holder.rollback()
    async with write_transaction(engine) as conn:
        await conn.execute(text("INSERT INTO t VALUES (2)"))
    async with read_transaction(engine) as conn:
        assert (await conn.execute(text("SELECT n FROM t"))).scalars().all() == [2]


SLOW_COUNT = "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5000000) SELECT count(*) FROM c"


async def test_a_write_cancelled_while_its_statement_runs_leaves_no_lock_behind(engine: AsyncEngine) -> None:
    """The statement goes on in the thread after its caller is cancelled; what follows on
    that connection waits for it, so no transaction (and no write lock) stays open."""
    started = asyncio.Event()

    async def slow_write() -> None:
        async with write_transaction(engine) as conn:
            started.set()
            await conn.execute(text(SLOW_COUNT))

    writing = asyncio.create_task(slow_write())
    await started.wait()
    await asyncio.sleep(0.05)
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    for _ in range(3):  # every pooled connection, the cancelled one among them
        async with asyncio.timeout(10), write_transaction(engine) as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
    async with read_transaction(engine) as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3
