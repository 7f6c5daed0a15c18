"""Databases (of profiles) and resources (what profiles subscribe to), always within one account.

The functions return plain data (the dataclasses below); catalog/routes.py builds the API's
dictionaries from them, so that the CLI and the dashboard read the same services.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.catalog import queries
from tally.errors import BadRequest, NotFound
from tally.store.types import utcnow

T = TypeVar("T")


@dataclass(frozen=True)
class Database:
    id: int
    name: str
    description: str
    #: Live (not deleted) profiles: the ``all`` counter.
    profiles_count: int

    @classmethod
    def from_row(cls, row: Row[Any]) -> Database:
        return cls(id=row.id, name=row.name, description=row.description, profiles_count=int(row.profiles_count))


@dataclass(frozen=True)
class Resource:
    id: int
    name: str
    channels: tuple[str, ...]

    @classmethod
    def from_row(cls, row: Row[Any]) -> Resource:
        return cls(id=row.id, name=row.name, channels=tuple(row.channels))


CatalogItem = TypeVar("CatalogItem", "Database", "Resource")


@dataclass(frozen=True)
class Linked(Generic[T]):
    """A database or resource with the ids of what it is linked to."""

    item: T
    linked_ids: list[int]


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    #: The id the next page starts at; 0 when this is the last page.
    next_from_id: int
    total_count: int


async def database_add(conn: AsyncConnection, account_id: int, name: str, description: str) -> int:
    return await queries.database_insert(conn, account_id, name, description, utcnow())


async def database_require(conn: AsyncConnection, account_id: int, database_id: int) -> Database:
    """The database, or 404 if it does not exist in this account."""
    row = await queries.database_get(conn, account_id, database_id)
    if row is None:
        raise NotFound(f"Database not found: {database_id}")
    return Database.from_row(row)


async def database_get(conn: AsyncConnection, account_id: int, database_id: int) -> Linked[Database]:
    database = await database_require(conn, account_id, database_id)
    linked = await queries.links_of(conn, [database.id], by="database")
    return Linked(database, linked.get(database.id, []))


async def database_list(conn: AsyncConnection, account_id: int, from_id: int, limit: int) -> Page[Linked[Database]]:
    rows, total = await queries.database_page(conn, account_id, from_id, limit)
    return await _linked_page(conn, [Database.from_row(row) for row in rows], limit, total, by="database")


async def resource_add(
    conn: AsyncConnection, account_id: int, name: str, channels: list[str], database_ids: list[int]
) -> int:
    for database_id in database_ids:
        await database_require(conn, account_id, database_id)
    resource_id = await queries.resource_insert(conn, account_id, name, channels, utcnow())
    await queries.links_insert(conn, resource_id, database_ids)
    return resource_id


async def resource_require(conn: AsyncConnection, account_id: int, resource_id: int) -> Resource:
    """The resource, or 404 if it does not exist in this account."""
    row = await queries.resource_get(conn, account_id, resource_id)
    if row is None:
        raise NotFound(f"Resource not found: {resource_id}")
    return Resource.from_row(row)


async def resource_get(conn: AsyncConnection, account_id: int, resource_id: int) -> Linked[Resource]:
    resource = await resource_require(conn, account_id, resource_id)
    linked = await queries.links_of(conn, [resource.id], by="resource")
    return Linked(resource, linked.get(resource.id, []))


async def resource_list(conn: AsyncConnection, account_id: int, from_id: int, limit: int) -> Page[Linked[Resource]]:
    rows, total = await queries.resource_page(conn, account_id, from_id, limit)
    return await _linked_page(conn, [Resource.from_row(row) for row in rows], limit, total, by="resource")


async def _linked_page(
    conn: AsyncConnection, found: list[CatalogItem], limit: int, total: int, *, by: str
) -> Page[Linked[CatalogItem]]:
    """A page of ``limit`` items with their links; ``found`` holds one more when a next page exists."""
    page = found[:limit]
    linked = await queries.links_of(conn, [item.id for item in page], by=by)
    return Page(
        items=[Linked(item, linked.get(item.id, [])) for item in page],
        next_from_id=found[limit].id if len(found) > limit else 0,
        total_count=total,
    )


async def resources_for_database(
    conn: AsyncConnection, account_id: int, database_id: int
) -> tuple[dict[int, Resource], frozenset[int]]:
    """The resources linked to a database, and the ids of all the account's resources."""
    found = await queries.resources_with_link(conn, account_id, database_id)
    linked = {row.id: Resource.from_row(row) for row, is_linked in found if is_linked}
    return linked, frozenset(row.id for row, _ in found)


async def require_linked(conn: AsyncConnection, database_id: int, resource_id: int) -> None:
    if not await queries.link_exists(conn, database_id, resource_id):
        raise BadRequest(f"Invalid parameter: resource {resource_id} is not linked to database {database_id}")
