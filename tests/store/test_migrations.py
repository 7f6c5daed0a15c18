"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.store.migrate import is_current, upgrade
from tally.store.tables import metadata


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def test_upgrade_on_empty_database_matches_the_tables(engine: AsyncEngine) -> None:
    # The fixture has already upgraded an empty database.
    async with engine.connect() as conn:
        differences = await conn.run_sync(_differences)
    assert differences == []
    assert await is_current(engine)


async def test_upgrade_twice_is_a_no_op(engine: AsyncEngine) -> None:
    await upgrade(engine)
    assert await is_current(engine)


async def test_count_index_is_partial_on_is_effective(engine: AsyncEngine) -> None:
    def _indexes(connection: Connection) -> dict[str, Any]:
        return {index["name"]: index for index in inspect(connection).get_indexes("subscriptions")}

    async with engine.connect() as conn:
        indexes = await conn.run_sync(_indexes)
    count_index = indexes["ix_subscriptions_count"]
    assert count_index["column_names"][:5] == ["database_id", "resource_id", "channel", "status", "is_sendable"]
    dialect_options = count_index.get("dialect_options", {})
    where = dialect_options.get("sqlite_where", dialect_options.get("postgresql_where"))
    assert "is_effective" in str(where)


async def test_postgres_subscriptions_autovacuum_is_aggressive(engine: AsyncEngine, backend: str) -> None:
    if backend != "postgres":
        return  # autovacuum exists only on PostgreSQL; SQLite has nothing to check
    async with engine.connect() as conn:
        options = await conn.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'subscriptions'"))
    assert "autovacuum_vacuum_scale_factor=0.01" in options
