"""store/engine.py snapshot_shared: other connections read the snapshot of one transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.store.engine import snapshot_shared, snapshot_transaction, write_transaction
from tally.store.tables import accounts
from tally.store.types import utcnow


async def _accounts(conn: object) -> int:
    return int(await conn.scalar(select(func.count()).select_from(accounts)) or 0)  # type: ignore[attr-defined]


async def _add_account(engine: AsyncEngine, name: str) -> None:
    async with write_transaction(engine) as conn:
        await conn.execute(insert(accounts).values(name=name, created_at=utcnow()))


async def test_shared_connections_see_the_snapshot_not_what_was_committed_since(
    engine: AsyncEngine, backend: str
) -> None:
    if backend != "postgres":
        pytest.skip("SQLite counts on one connection")
    await _add_account(engine, "before")
    async with snapshot_transaction(engine) as conn:
        seen = await _accounts(conn)  # the snapshot is taken here
        await _add_account(engine, "after")  # committed after it
        async with snapshot_shared(engine, conn, 2) as clones:
            assert [await _accounts(clone) for clone in clones] == [seen, seen]
    async with snapshot_transaction(engine) as conn:
        assert await _accounts(conn) == seen + 1


async def test_no_shared_connection_asked_opens_none(engine: AsyncEngine) -> None:
    async with snapshot_transaction(engine) as conn, snapshot_shared(engine, conn, 0) as clones:
        assert clones == []
