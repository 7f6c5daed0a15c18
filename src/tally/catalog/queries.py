"""Every statement on ``databases``, ``resources`` and the links between them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.store.tables import database_resources, databases, profile_count_deltas, resources

#: A database's live profiles: the folded count plus the deltas not folded yet. One
#: statement, so that it reads one snapshot even at READ COMMITTED.
_PROFILES_COUNT = (
    databases.c.live_profiles
    + select(func.coalesce(func.sum(profile_count_deltas.c.delta), 0))
    .where(profile_count_deltas.c.database_id == databases.c.id)
    .scalar_subquery()
).label("profiles_count")
_DATABASE: Select[Any] = select(databases.c.id, databases.c.name, databases.c.description, _PROFILES_COUNT)


# database_insert -- a new database of an account; its id.
async def database_insert(conn: AsyncConnection, account_id: int, name: str, description: str, now: datetime) -> int:
    result = await conn.execute(
        insert(databases)
        .values(account_id=account_id, name=name, description=description, created_at=now)
        .returning(databases.c.id)
    )
    return int(result.scalar_one())


# database_get -- one database of one account.
async def database_get(conn: AsyncConnection, account_id: int, database_id: int) -> Row[Any] | None:
    query = _DATABASE.where(databases.c.id == database_id, databases.c.account_id == account_id)
    row: Row[Any] | None = (await conn.execute(query)).first()
    return row


# database_page -- up to `limit` + 1 databases from `from_id` on (the extra one tells the next
# page), and how many the account has.
async def database_page(conn: AsyncConnection, account_id: int, from_id: int, limit: int) -> tuple[list[Row[Any]], int]:
    mine = databases.c.account_id == account_id
    query = _DATABASE.where(mine, databases.c.id >= from_id).order_by(databases.c.id).limit(limit + 1)
    rows = list((await conn.execute(query)).all())
    total = await conn.scalar(select(func.count()).select_from(databases).where(mine))
    return rows, int(total or 0)


# profile_count_change -- record that a write added (or removed) `delta` live profiles.
async def profile_count_change(conn: AsyncConnection, database_id: int, delta: int) -> None:
    if delta:
        await conn.execute(insert(profile_count_deltas).values(database_id=database_id, delta=delta))


# profile_count_fold -- move the committed deltas into databases.live_profiles; returns how
# many databases changed.
async def profile_count_fold(conn: AsyncConnection) -> int:
    # Exactly the rows deleted are added: a delta committed meanwhile waits for the next fold.
    deleted = await conn.execute(
        delete(profile_count_deltas).returning(profile_count_deltas.c.database_id, profile_count_deltas.c.delta)
    )
    totals: dict[int, int] = {}
    for database_id, delta in deleted:
        totals[database_id] = totals.get(database_id, 0) + delta
    for database_id, total in sorted(totals.items()):
        await conn.execute(
            update(databases)
            .where(databases.c.id == database_id)
            .values(live_profiles=databases.c.live_profiles + total)
        )
    return len(totals)


# resource_insert -- a new resource of an account; its id.
async def resource_insert(conn: AsyncConnection, account_id: int, name: str, channels: list[str], now: datetime) -> int:
    result = await conn.execute(
        insert(resources)
        .values(account_id=account_id, name=name, channels=sorted(set(channels)), created_at=now)
        .returning(resources.c.id)
    )
    return int(result.scalar_one())


# resource_get -- one resource of one account.
async def resource_get(conn: AsyncConnection, account_id: int, resource_id: int) -> Row[Any] | None:
    query = select(resources).where(resources.c.id == resource_id, resources.c.account_id == account_id)
    return (await conn.execute(query)).first()


# resource_page -- as database_page, for resources.
async def resource_page(conn: AsyncConnection, account_id: int, from_id: int, limit: int) -> tuple[list[Row[Any]], int]:
    mine = resources.c.account_id == account_id
    query = select(resources).where(mine, resources.c.id >= from_id).order_by(resources.c.id).limit(limit + 1)
    rows = list((await conn.execute(query)).all())
    total = await conn.scalar(select(func.count()).select_from(resources).where(mine))
    return rows, int(total or 0)


# resources_with_link -- every resource of an account, and whether it is linked to a database.
async def resources_with_link(conn: AsyncConnection, account_id: int, database_id: int) -> list[tuple[Row[Any], bool]]:
    rows = await conn.execute(
        select(resources, database_resources.c.database_id.label("linked_to"))
        .outerjoin(
            database_resources,
            (database_resources.c.resource_id == resources.c.id) & (database_resources.c.database_id == database_id),
        )
        .where(resources.c.account_id == account_id)
    )
    return [(row, row.linked_to is not None) for row in rows]


# links_insert -- link a resource to databases.
async def links_insert(conn: AsyncConnection, resource_id: int, database_ids: list[int]) -> None:
    if database_ids:
        await conn.execute(
            insert(database_resources),
            [{"database_id": database_id, "resource_id": resource_id} for database_id in sorted(set(database_ids))],
        )


# link_exists -- whether a resource is linked to a database.
async def link_exists(conn: AsyncConnection, database_id: int, resource_id: int) -> bool:
    found = await conn.scalar(
        select(database_resources.c.resource_id).where(
            database_resources.c.database_id == database_id,
            database_resources.c.resource_id == resource_id,
        )
    )
    return found is not None


# links_of -- database id -> its resource ids (by="database"), or resource id -> its database ids.
async def links_of(conn: AsyncConnection, ids: list[int], *, by: str) -> dict[int, list[int]]:
    if not ids:
        return {}
    own, other = (
        (database_resources.c.database_id, database_resources.c.resource_id)
        if by == "database"
        else (database_resources.c.resource_id, database_resources.c.database_id)
    )
    rows = await conn.execute(select(own, other).where(own.in_(ids)).order_by(own, other))
    linked: dict[int, list[int]] = {}
    for key, value in rows:
        linked.setdefault(key, []).append(value)
    return linked
