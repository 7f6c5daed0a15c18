"""The recount reads the covering index alone, never the table (checked with EXPLAIN)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.accounts.service import token_create
from tally.catalog.service import database_add, resource_add
from tally.counters.count import Chunk, chunk_query
from tally.demo import demo_profiles
from tally.profiles.service import profiles_add
from tally.store.engine import snapshot_transaction, write_transaction


async def _plan(conn: AsyncConnection, backend: str, database_id: int = 1, resource_id: int = 1) -> str:
    query = chunk_query(database_id, resource_id, Chunk(channel=0, first=0, last=6, weight=1))
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    prefix = "EXPLAIN QUERY PLAN " if backend == "sqlite" else "EXPLAIN "
    rows = await conn.execute(text(prefix + str(compiled)))
    return "\n".join(str(row[-1]) for row in rows)


async def test_chunk_query_uses_covering_index(engine: AsyncEngine, backend: str) -> None:
    async with snapshot_transaction(engine) as conn:
        plan = await _plan(conn, backend)
    if backend == "sqlite":
        assert "USING COVERING INDEX ix_subscriptions_count" in plan, plan
        assert "TEMP B-TREE" not in plan, plan  # GROUP BY follows the index order
    else:
        assert "Index Only Scan using ix_subscriptions_count" in plan, plan


async def test_chunk_query_can_run_as_parallel_index_only_scan(engine: AsyncEngine, backend: str) -> None:
    if backend == "sqlite":
        return  # SQLite has no parallel plans; the covering index is checked above
    token = await token_create(engine, "plan")
    async with write_transaction(engine) as conn:
        database_id = await database_add(conn, token.account_id, "Plan", "")
        resource_id = await resource_add(conn, token.account_id, "Plan", ["email", "sms", "push"], [database_id])
        await profiles_add(conn, token.account_id, database_id, list(demo_profiles(3000, resource_id)))
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE subscriptions"))
    async with snapshot_transaction(engine) as conn:
        # A test table is too small for the planner to go parallel on its own; with
        # parallel start-up made free, the plan shows that it can.
        for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_index_scan_size = 0"):
            await conn.execute(text(f"SET LOCAL {setting}"))
        plan = await _plan(conn, backend, database_id, resource_id)
    assert "Parallel Index Only Scan using ix_subscriptions_count" in plan, plan
