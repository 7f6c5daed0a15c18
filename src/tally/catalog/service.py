"""Reading and writing databases and resources, always within one account."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.errors import BadRequest, NotFound
from tally.store.tables import database_resources, databases, resources
from tally.store.types import utcnow


@dataclass(frozen=True)
class Resource:
    id: int
    name: str
    channels: tuple[str, ...]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Resource:
        return cls(id=row.id, name=row.name, channels=tuple(row.channels.split(",")))


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_from_id: int
    total_count: int

    def as_data(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "next_from_id": self.next_from_id,
            "total_count": self.total_count,
        }


async def database_add(conn: AsyncConnection, account_id: int, name: str, description: str) -> int:
    result = await conn.execute(
        insert(databases)
        .values(account_id=account_id, name=name, description=description, created_at=utcnow())
        .returning(databases.c.id)
    )
    return int(result.scalar_one())


async def database_require(conn: AsyncConnection, account_id: int, database_id: int) -> Row[Any]:
    """The database row, or 404 if it does not exist in this account."""
    row = (
        await conn.execute(select(databases).where(databases.c.id == database_id, databases.c.account_id == account_id))
    ).first()
    if row is None:
        raise NotFound(f"Database not found: {database_id}")
    return row


async def database_get(conn: AsyncConnection, account_id: int, database_id: int) -> dict[str, Any]:
    row = await database_require(conn, account_id, database_id)
    linked = await _linked_ids(conn, [row.id], by="database")
    return _database_data(row, linked.get(row.id, []))


async def database_list(conn: AsyncConnection, account_id: int, from_id: int, limit: int) -> Page:
    mine = databases.c.account_id == account_id
    rows = (
        await conn.execute(
            select(databases).where(mine, databases.c.id >= from_id).order_by(databases.c.id).limit(limit + 1)
        )
    ).all()
    total = await conn.scalar(select(func.count()).select_from(databases).where(mine))
    page, more = rows[:limit], rows[limit:]
    linked = await _linked_ids(conn, [row.id for row in page], by="database")
    return Page(
        items=[_database_data(row, linked.get(row.id, [])) for row in page],
        next_from_id=more[0].id if more else 0,
        total_count=int(total or 0),
    )


def _database_data(row: Row[Any], resource_ids: list[int]) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "profiles_count": row.live_profiles,
        "resources_ids": resource_ids,
    }


async def resource_add(
    conn: AsyncConnection, account_id: int, name: str, channels: list[str], database_ids: list[int]
) -> int:
    for database_id in database_ids:
        await database_require(conn, account_id, database_id)
    result = await conn.execute(
        insert(resources)
        .values(
            account_id=account_id,
            name=name,
            channels=",".join(sorted(set(channels))),
            created_at=utcnow(),
        )
        .returning(resources.c.id)
    )
    resource_id = int(result.scalar_one())
    if database_ids:
        await conn.execute(
            insert(database_resources),
            [{"database_id": db, "resource_id": resource_id} for db in sorted(set(database_ids))],
        )
    return resource_id


async def resource_require(conn: AsyncConnection, account_id: int, resource_id: int) -> Resource:
    """The resource, or 404 if it does not exist in this account."""
    row = (
        await conn.execute(select(resources).where(resources.c.id == resource_id, resources.c.account_id == account_id))
    ).first()
    if row is None:
        raise NotFound(f"Resource not found: {resource_id}")
    return Resource.from_row(row)


async def resource_get(conn: AsyncConnection, account_id: int, resource_id: int) -> dict[str, Any]:
    resource = await resource_require(conn, account_id, resource_id)
    linked = await _linked_ids(conn, [resource.id], by="resource")
    return _resource_data(resource, linked.get(resource.id, []))


async def resource_list(conn: AsyncConnection, account_id: int, from_id: int, limit: int) -> Page:
    mine = resources.c.account_id == account_id
    rows = (
        await conn.execute(
            select(resources).where(mine, resources.c.id >= from_id).order_by(resources.c.id).limit(limit + 1)
        )
    ).all()
    total = await conn.scalar(select(func.count()).select_from(resources).where(mine))
    page, more = [Resource.from_row(row) for row in rows[:limit]], rows[limit:]
    linked = await _linked_ids(conn, [resource.id for resource in page], by="resource")
    return Page(
        items=[_resource_data(resource, linked.get(resource.id, [])) for resource in page],
        next_from_id=more[0].id if more else 0,
        total_count=int(total or 0),
    )


def _resource_data(resource: Resource, database_ids: list[int]) -> dict[str, Any]:
    return {
        "channels": list(resource.channels),
        "dbs_ids": database_ids,
        "id": resource.id,
        "name": resource.name,
    }


async def is_linked(conn: AsyncConnection, database_id: int, resource_id: int) -> bool:
    found = await conn.scalar(
        select(database_resources.c.resource_id).where(
            database_resources.c.database_id == database_id,
            database_resources.c.resource_id == resource_id,
        )
    )
    return found is not None


async def require_linked(conn: AsyncConnection, database_id: int, resource_id: int) -> None:
    if not await is_linked(conn, database_id, resource_id):
        raise BadRequest(f"Invalid parameter: resource {resource_id} is not linked to database {database_id}")


async def _linked_ids(conn: AsyncConnection, ids: list[int], *, by: str) -> dict[int, list[int]]:
    """database id → its resource ids, or resource id → its database ids."""
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
