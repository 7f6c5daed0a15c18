"""A profile can be found by phone in its database: profile_phones and its index."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.profiles.queries import profiles_with_phone
from tally.store.engine import read_transaction
from tests.helpers import Api


async def _with_phone(engine: AsyncEngine, api: Api, database_id: int, phone: str) -> list[int]:
    async with read_transaction(engine) as conn:
        return await profiles_with_phone(conn, api.account_id, database_id, phone)


async def test_profiles_are_found_by_each_of_their_phones(api: Api, engine: AsyncEngine) -> None:
    database_id, _ = await api.setup_catalog()
    other_database, _ = await api.setup_catalog()
    batch = await api.ok(
        "profiles/add_batch",
        {
            "db_id": database_id,
            "data": [
                {"phones": ["+79001234567", "+79001234567", "+79007654321"]},  # listed twice: one row
                {"phones": ["+79001234567"]},
                {"phones": []},
            ],
        },
    )
    first, second, _ = (int(item["profile_id"]) for item in batch)
    await api.ok("profiles/add", {"db_id": other_database, "data": {"phones": ["+79001234567"]}})
    assert await _with_phone(engine, api, database_id, "+79001234567") == [first, second]
    assert await _with_phone(engine, api, database_id, "+79007654321") == [first]
    assert await _with_phone(engine, api, database_id, "+70000000000") == []

    await api.ok("profiles/delete", {"profile_id": str(second)})
    assert await _with_phone(engine, api, database_id, "+79001234567") == [first]


async def test_another_accounts_profiles_are_not_found_by_phone(api: Api, engine: AsyncEngine) -> None:
    database_id, _ = await api.setup_catalog()
    await api.ok("profiles/add", {"db_id": database_id, "data": {"phones": ["+79001234567"]}})
    stranger = await Api.for_new_account(api.client, engine)
    assert await _with_phone(engine, stranger, database_id, "+79001234567") == []


async def test_a_phone_longer_than_64_characters_is_refused_by_name(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    envelope = await api.call("profiles/add", {"db_id": database_id, "data": {"phones": ["+7" + "9" * 63]}})
    assert envelope["error"] == 400
    assert envelope["error_text"].startswith("Invalid parameter: data.phones[0] must be at most 64 characters")


async def test_lookup_by_phone_uses_the_index(engine: AsyncEngine, backend: str) -> None:
    query = "SELECT profile_id FROM profile_phones WHERE database_id = 1 AND phone = '+79001234567'"
    async with read_transaction(engine) as conn:
        if backend == "sqlite":
            plan = "\n".join(str(row[-1]) for row in await conn.execute(text("EXPLAIN QUERY PLAN " + query)))
            assert "ix_profile_phones_database_id_phone" in plan, plan
        else:
            await conn.execute(text("SET LOCAL enable_seqscan = off"))  # an empty table is cheapest to scan
            plan = "\n".join(str(row[0]) for row in await conn.execute(text("EXPLAIN " + query)))
            assert "ix_profile_phones_database_id_phone" in plan, plan
