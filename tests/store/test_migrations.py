"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, func, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.store.migrate import downgrade, is_current, upgrade
from tally.store.tables import (
    counter_sets,
    database_resources,
    databases,
    metadata,
    profile_phones,
    profiles,
    resources,
    subscriptions,
)


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


async def _insert_at_0003(conn: AsyncConnection) -> None:
    """One of everything, in the shape schema 0003 stores it."""
    now = "'2024-04-17 21:36:01'"
    false, true = ("0", "1") if conn.dialect.name == "sqlite" else ("false", "true")
    for statement in (
        f"INSERT INTO accounts (id, name, created_at) VALUES (1, 'acme', {now})",
        f"INSERT INTO databases (id, account_id, name, description, live_profiles, created_at) "
        f"VALUES (1, 1, 'Customers', '', 1, {now})",
        f"INSERT INTO resources (id, account_id, name, channels, created_at) VALUES (1, 1, 'News', 'email,sms', {now})",
        "INSERT INTO database_resources (database_id, resource_id) VALUES (1, 1)",
        "INSERT INTO profiles (id, account_id, database_id, email, phones, fields, is_deleted, created_at, "
        f"updated_at) VALUES (1, 1, 1, 'ann@example.org', '[]', '{{}}', {false}, {now}, {now})",
        "INSERT INTO subscriptions (id, profile_id, database_id, resource_id, channel, address, address_key, status, "
        "priority, is_deleted, change_seq, is_deliverable, is_effective, is_sendable, updated_at) VALUES "
        f"""(1, 1, 1, 1, 0, '{{"email": "ann@example.org"}}', 'k', 0, 0, {false}, 1, {true}, {true}, {true}, {now})""",
        "INSERT INTO counter_sets (database_id, resource_id, account_id, channels, total_count, count_started_at, "
        f"count_duration_ns, updated_at, task_id) VALUES (1, 1, 1, '[]', 1, {now}, 5, {now}, 't')",
    ):
        await conn.exec_driver_sql(statement)


async def _upgrade_over_stored_data(engine: AsyncEngine, *statements: str) -> None:
    """Back to schema 0003, one of everything stored in its shape (and ``statements``), then
    upgraded to the newest schema again."""
    await downgrade(engine, "0003")
    try:
        async with engine.begin() as conn:
            await _insert_at_0003(conn)
            for statement in statements:
                await conn.exec_driver_sql(statement)
    finally:
        await upgrade(engine)


async def test_upgrade_from_0003_keeps_the_data_and_deletes_cascade(engine: AsyncEngine) -> None:
    await _upgrade_over_stored_data(engine)
    async with engine.begin() as conn:
        assert (await conn.execute(select(resources.c.channels))).scalar_one() == ["email", "sms"]
        assert await conn.scalar(select(func.count()).select_from(subscriptions)) == 1
        differences = await conn.run_sync(_differences)
    assert differences == []
    async with engine.begin() as conn:
        await conn.execute(delete(databases))
    async with engine.connect() as conn:
        for table in (profiles, subscriptions, counter_sets, database_resources):
            assert await conn.scalar(select(func.count()).select_from(table)) == 0, table.name
        assert await conn.scalar(select(func.count()).select_from(resources)) == 1


async def test_deleting_a_resource_deletes_its_subscriptions_links_and_counters(engine: AsyncEngine) -> None:
    await _upgrade_over_stored_data(engine)
    async with engine.begin() as conn:
        await conn.execute(delete(resources))
    async with engine.connect() as conn:
        for table in (subscriptions, counter_sets, database_resources):
            assert await conn.scalar(select(func.count()).select_from(table)) == 0, table.name
        assert await conn.scalar(select(func.count()).select_from(profiles)) == 1


async def test_upgrade_indexes_the_phones_stored_so_far(engine: AsyncEngine) -> None:
    too_long = "+7" + "9" * 70
    phones = f'["+79001234567", "+79001234567", "+79007654321", "{too_long}"]'
    await _upgrade_over_stored_data(engine, f"UPDATE profiles SET phones = '{phones}'")
    async with engine.connect() as conn:
        rows = (await conn.execute(select(profile_phones.c.profile_id, profile_phones.c.phone))).all()
    assert sorted(rows) == [(1, "+79001234567"), (1, "+79007654321")]


async def test_upgrade_keys_stored_emails_and_phones_for_matching(engine: AsyncEngine) -> None:
    await _upgrade_over_stored_data(
        engine,
        "UPDATE profiles SET email = ' Ann@Example.ORG', "
        """phones = '["+7 (900) 123-45-67", "0079001234567", "8 900"]'""",
    )
    async with engine.connect() as conn:
        assert await conn.scalar(select(profiles.c.email_key)) == "ann@example.org"
        assert await conn.scalar(select(profiles.c.email)) == " Ann@Example.ORG"
        rows = (await conn.execute(select(profile_phones.c.phone).order_by(profile_phones.c.phone))).scalars().all()
    assert rows == ["+79001234567", "8 900"]
