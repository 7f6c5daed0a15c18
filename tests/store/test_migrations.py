"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.catalog.channels import address_key
from tally.catalog.queries import database_delete, resource_delete
from tally.profiles.queries import subscriptions_recompute_flags
from tally.store.migrate import downgrade, is_current, upgrade
from tally.store.tables import (
    counter_history,
    counter_sets,
    database_resources,
    databases,
    metadata,
    profile_phones,
    profiles,
    resources,
    subscription_counts,
    subscriptions,
)

T = TypeVar("T")


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


async def _upgrade_over_stored_data(
    engine: AsyncEngine, *statements: str, measure: Callable[[AsyncConnection], Awaitable[T]] | None = None
) -> T | None:
    """Back to schema 0003, one of everything stored in its shape (and ``statements``), then
    upgraded to the newest schema again; ``measure``'s answer on the data before the upgrade."""
    await downgrade(engine, "0003")
    measured = None
    try:
        async with engine.begin() as conn:
            await _insert_at_0003(conn)
            for statement in statements:
                await conn.exec_driver_sql(statement)
            if measure is not None:
                measured = await measure(conn)
    finally:
        await upgrade(engine)
    return measured


async def test_upgrade_from_0003_keeps_the_data_and_the_catalog_deletes_all_of_it(engine: AsyncEngine) -> None:
    await _upgrade_over_stored_data(engine)
    async with engine.begin() as conn:
        assert (await conn.execute(select(resources.c.channels))).scalar_one() == ["email", "sms"]
        assert await conn.scalar(select(func.count()).select_from(subscriptions)) == 1
        differences = await conn.run_sync(_differences)
    assert differences == []
    async with engine.begin() as conn:
        await database_delete(conn, 1)
    async with engine.connect() as conn:
        tables = (
            databases,
            profiles,
            subscriptions,
            subscription_counts,
            counter_sets,
            counter_history,
            database_resources,
        )
        for table in tables:
            assert await conn.scalar(select(func.count()).select_from(table)) == 0, table.name
        assert await conn.scalar(select(func.count()).select_from(resources)) == 1


async def test_upgrade_starts_each_history_with_the_stored_counter_set(engine: AsyncEngine) -> None:
    await _upgrade_over_stored_data(engine)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(counter_history))).all()
    assert [
        (row.database_id, row.resource_id, row.task_id, row.total_count, row.count_duration_ns) for row in rows
    ] == [(1, 1, "t", 1, 5)]


async def test_upgrade_counts_the_stored_effective_subscriptions(engine: AsyncEngine) -> None:
    await _upgrade_over_stored_data(engine)
    counts = subscription_counts.c
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    counts.database_id,
                    counts.resource_id,
                    counts.channel,
                    counts.status,
                    counts.is_sendable,
                    counts.delta,
                )
            )
        ).all()
    assert [tuple(row) for row in rows] == [(1, 1, 0, 0, True, 1)]


async def test_deleting_a_resource_deletes_its_subscriptions_links_and_counters(engine: AsyncEngine) -> None:
    await _upgrade_over_stored_data(engine)
    async with engine.begin() as conn:
        await resource_delete(conn, 1)
    async with engine.connect() as conn:
        for table in (resources, subscriptions, subscription_counts, counter_sets, database_resources):
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


def _cc_subscription(backend: str, row_id: int, profile_id: int, channel: int, cc_data: Any, **values: Any) -> str:
    """A cc_data subscription of resource 2 in the shape schema 0003 stores it, keyed as then."""
    address = {"cc_data": cc_data}
    row = {"status": 0, "priority": 0, "is_deleted": False, "change_seq": 1, "is_deliverable": True}
    row |= {"is_effective": False, "is_sendable": False} | values
    literal = {True: "true", False: "false"} if backend == "postgres" else {True: "1", False: "0"}
    columns = ", ".join(row)
    shown = ", ".join(literal[value] if isinstance(value, bool) else str(value) for value in row.values())
    old_key = json.dumps(address, sort_keys=True, separators=(",", ":"))
    return (
        "INSERT INTO subscriptions (id, profile_id, database_id, resource_id, channel, address, address_key, "
        f"updated_at, {columns}) VALUES ({row_id}, {profile_id}, 1, 2, {channel}, '{json.dumps(address)}', "
        f"'{old_key}', '2024-04-17 21:36:01', {shown})"
    )


_CC_CATALOG = (
    "INSERT INTO resources (id, account_id, name, channels, created_at) "
    "VALUES (2, 1, 'Bots', 'telegram_bot,viber,whatsapp,notify', '2024-04-17 21:36:01')",
    "INSERT INTO database_resources (database_id, resource_id) VALUES (1, 2)",
)


def _profiles_at_0003(backend: str, ids: range, global_status: str = "NULL") -> str:
    false = "false" if backend == "postgres" else "0"
    rows = ", ".join(
        f"({i}, 1, 1, NULL, '[]', '{{}}', {global_status}, {false}, '2024-04-17 21:36:01', '2024-04-17 21:36:01')"
        for i in ids
    )
    return (
        "INSERT INTO profiles (id, account_id, database_id, email, phones, fields, global_status, is_deleted, "
        f"created_at, updated_at) VALUES {rows}"
    )


async def _effective_counts(conn: AsyncConnection) -> list[Any]:
    """What a refresh counts: effective subscriptions per (resource, channel, status, sendable)."""
    s = subscriptions.c
    rows = await conn.execute(
        select(s.resource_id, s.channel, s.status, s.is_sendable, func.count())
        .where(s.is_effective)
        .group_by(s.resource_id, s.channel, s.status, s.is_sendable)
    )
    return sorted(tuple(row) for row in rows)


async def _flags(conn: AsyncConnection) -> list[Any]:
    rows = await conn.execute(select(subscriptions.c.id, subscriptions.c.is_effective, subscriptions.c.is_sendable))
    return sorted(tuple(row) for row in rows)


async def test_upgrade_merges_cc_data_subscriptions_whose_ids_differ_only_in_type(
    engine: AsyncEngine, backend: str
) -> None:
    def row(*args: Any, **values: Any) -> str:
        return _cc_subscription(backend, *args, **values)

    stored = [
        *_CC_CATALOG,
        _profiles_at_0003(backend, range(2, 3), global_status="1"),
        # Profile 1, telegram_bot: 123 three ways; the effective one ("123", the latest) stays.
        row(10, 1, 3, {"id": 123}, change_seq=1),
        row(11, 1, 3, {"id": "123"}, status=1, change_seq=2, is_effective=True),
        row(12, 1, 3, {"id": 123.0}, change_seq=3, is_deleted=True),
        row(13, 1, 3, {"id": 456}, priority=1, change_seq=4),
        # Profile 1, viber: the number wins by priority though the text is more recent, so the
        # effective subscription (and every count) stays; it takes the key the text had.
        row(14, 1, 4, {"phone": 79001234567}, change_seq=1, is_deliverable=False, is_effective=True),
        row(15, 1, 4, {"phone": "79001234567"}, status=1, priority=3, change_seq=2, is_deliverable=False),
        # Profile 2 (globally blocked): one id on two channels is two subscriptions.
        row(20, 2, 3, {"id": 123}, is_effective=True),
        row(21, 2, 5, {"id": "123"}, status=4, is_effective=True),
        row(22, 2, 6, {"id": 7, "phone": "+79001234567"}, is_effective=True),
    ]
    before = await _upgrade_over_stored_data(engine, *stored, measure=_effective_counts)
    async with engine.begin() as conn:
        rows = (await conn.execute(select(subscriptions).order_by(subscriptions.c.id))).all()
        assert [row.id for row in rows] == [1, 11, 13, 14, 20, 21, 22]
        assert await _effective_counts(conn) == before
        # Addresses stay as given; every cc_data key is the one the code computes now.
        addresses = {row.id: row.address for row in rows}
        assert (addresses[13], addresses[14]) == ({"cc_data": {"id": 456}}, {"cc_data": {"phone": 79001234567}})
        keys = {row.id: row.address_key for row in rows}
        assert keys[1] == "k"
        assert keys[14] == '{"cc_data":{"phone":"79001234567"}}'
        assert all(keys[row.id] == address_key(row.address) for row in rows if row.channel >= 3)
        assert {row.id: row.status for row in rows if row.is_effective} == {1: 0, 11: 1, 14: 0, 20: 0, 21: 4, 22: 0}
        # The flags are those the rules give.
        flags = await _flags(conn)
        await subscriptions_recompute_flags(conn, [1, 2])
        assert await _flags(conn) == flags


async def test_upgrade_merges_cc_data_subscriptions_across_batches(engine: AsyncEngine, backend: str) -> None:
    profile_ids = range(2, 2503)  # more than two batches of 1,000 profiles
    insert = "INSERT INTO subscriptions (id, profile_id, database_id, resource_id, channel, address, address_key, "
    insert += "status, priority, is_deleted, change_seq, is_deliverable, is_effective, is_sendable, updated_at) VALUES "
    false, true = ("false", "true") if backend == "postgres" else ("0", "1")
    values = ", ".join(
        f"""({2 * i}, {i}, 1, 2, 3, '{{"cc_data": {{"id": {i}}}}}', '{{"cc_data":{{"id":{i}}}}}', 0, 0, {false}, 2, """
        f"{true}, {true}, {true}, '2024-04-17 21:36:01'), "
        f"""({2 * i + 1}, {i}, 1, 2, 3, '{{"cc_data": {{"id": "{i}"}}}}', '{{"cc_data":{{"id":"{i}"}}}}', 1, 0, """
        f"{false}, 1, {true}, {false}, {false}, '2024-04-17 21:36:01')"
        for i in profile_ids
    )
    before = await _upgrade_over_stored_data(
        engine, *_CC_CATALOG, _profiles_at_0003(backend, profile_ids), insert + values, measure=_effective_counts
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(select(subscriptions).where(subscriptions.c.channel == 3))).all()
        assert await _effective_counts(conn) == before
    # The JSON number was the more recent write of each pair: it stays, keyed by its text.
    assert sorted(row.id for row in rows) == [2 * i for i in profile_ids]
    assert all(row.address_key == f'{{"cc_data":{{"id":"{row.profile_id}"}}}}' for row in rows)
