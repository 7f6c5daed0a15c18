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
from tally.catalog.channels import CHANNEL_CODES, CHANNEL_NAMES
from tally.catalog.queries import Lock
from tally.errors import BadRequest, Conflict, NotFound
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


async def database_require(
    conn: AsyncConnection, account_id: int, database_id: int, *, lock: Lock | None = None
) -> Database:
    """The database, or 404 if it does not exist in this account.

    ``Lock.PIN`` keeps it until commit (a write that depends on it: a refresh's start);
    ``Lock.CHANGE`` is taken by what deletes or reshapes it.
    """
    row = await queries.database_get(conn, account_id, database_id, lock)
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


async def resource_require(
    conn: AsyncConnection, account_id: int, resource_id: int, *, lock: Lock | None = None
) -> Resource:
    """The resource, or 404 if it does not exist in this account; locked as asked."""
    row = await queries.resource_get(conn, account_id, resource_id, lock)
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
    """The resources linked to a database, and the ids of all the account's resources.

    For the writes that check subscriptions against them: the database is pinned first
    (PostgreSQL), so that its deletion, an unlink or a channel removal (which lock it for a
    change) is either committed before these are read or waits for this write's commit.
    """
    if not await queries.databases_lock(conn, [database_id], Lock.PIN):
        raise NotFound(f"Database not found: {database_id}")
    found = await queries.resources_with_link(conn, account_id, database_id)
    linked = {row.id: Resource.from_row(row) for row, is_linked in found if is_linked}
    return linked, frozenset(row.id for row, _ in found)


async def require_linked(conn: AsyncConnection, database_id: int, resource_id: int) -> None:
    if not await queries.link_exists(conn, database_id, resource_id):
        raise BadRequest(f"Invalid parameter: resource {resource_id} is not linked to database {database_id}")


async def pair_require(
    conn: AsyncConnection, account_id: int, database_id: int, resource_id: int, *, lock: Lock | None = None
) -> tuple[Database, Resource]:
    """The account's database and resource, linked: 404 for either missing, 400 unlinked.

    ``lock`` is taken on the database (``Lock.PIN`` for a write that depends on it).
    """
    database = await database_require(conn, account_id, database_id, lock=lock)
    resource = await resource_require(conn, account_id, resource_id)
    await require_linked(conn, database_id, resource_id)
    return database, resource


# --- changes and deletes (ext) ---------------------------------------------------------
#
# Lock order on PostgreSQL: databases (in id order), then the resource. Writers that depend
# on a database's catalog pin it (resources_for_database, a refresh's start); a change that
# could invalidate what they checked, or a delete, locks every database it touches for a
# change first. On SQLite a write transaction holds the one write lock, so none of it waits.


async def database_update(
    conn: AsyncConnection, account_id: int, database_id: int, *, name: str | None, description: str | None
) -> Linked[Database]:
    """Rename or redescribe a database; it as databases/get shows it afterwards."""
    await database_require(conn, account_id, database_id)
    values = {key: value for key, value in (("name", name), ("description", description)) if value is not None}
    await queries.database_update(conn, database_id, values)
    return await database_get(conn, account_id, database_id)


async def database_delete(conn: AsyncConnection, account_id: int, database_id: int) -> None:
    """Delete a database with its profiles, subscriptions, links and counters; 409 while a
    task of it is queued or running."""
    await database_require(conn, account_id, database_id, lock=Lock.CHANGE)
    busy = await queries.tasks_active_naming(conn, account_id, database_id=database_id)
    if busy:
        raise Conflict(f"Database {database_id} {_busy(busy)}; delete it once {_ended(busy)} (tasks/status)")
    await queries.database_delete(conn, database_id)


async def resource_update(
    conn: AsyncConnection,
    account_id: int,
    resource_id: int,
    *,
    name: str | None,
    channels: list[str] | None,
    database_ids: list[int] | None,
) -> Linked[Resource]:
    """Rename a resource, replace its channels or its databases; it as resources/get shows it.

    Removing a channel that live subscriptions use, or a database that holds live
    subscriptions to it (or a refresh of the pair, queued or running), is a 409.
    """
    await resource_require(conn, account_id, resource_id)
    for database_id in database_ids or []:
        await database_require(conn, account_id, database_id)
    linked = set(await _links(conn, resource_id))
    unlinked = linked - set(database_ids) if database_ids is not None else set()
    # New channels may remove one that any linked database's writers rely on.
    guarded = linked if channels is not None else unlinked
    resource = await _lock_for_change(conn, account_id, resource_id, guarded, linked)
    removed_channels = set(resource.channels) - set(channels) if channels is not None else set()
    problems = [
        *await _channels_in_use(conn, account_id, resource_id, removed_channels),
        *await _links_in_use(conn, account_id, resource_id, unlinked),
    ]
    if problems:
        text = "; ".join(problems)
        raise Conflict(text[0].upper() + text[1:])
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = name
    if channels is not None:
        values["channels"] = channels
    await queries.resource_update(conn, resource_id, values)
    if database_ids is not None:
        await queries.links_delete(conn, resource_id, unlinked)
        await queries.links_insert(conn, resource_id, sorted(set(database_ids) - linked))
    return await resource_get(conn, account_id, resource_id)


async def resource_delete(conn: AsyncConnection, account_id: int, resource_id: int) -> None:
    """Delete a resource with its subscriptions, links and counters; 409 while a task of it
    is queued or running."""
    await resource_require(conn, account_id, resource_id)
    linked = set(await _links(conn, resource_id))
    await _lock_for_change(conn, account_id, resource_id, linked, linked)
    busy = await queries.tasks_active_naming(conn, account_id, resource_id=resource_id)
    if busy:
        raise Conflict(f"Resource {resource_id} {_busy(busy)}; delete it once {_ended(busy)} (tasks/status)")
    await queries.resource_delete(conn, resource_id)


async def _links(conn: AsyncConnection, resource_id: int) -> list[int]:
    return (await queries.links_of(conn, [resource_id], by="resource")).get(resource_id, [])


async def _lock_for_change(
    conn: AsyncConnection, account_id: int, resource_id: int, database_ids: set[int], linked: set[int]
) -> Resource:
    """Lock the databases (for a change, in id order), then the resource itself.

    ``linked`` is what the links were before the locks; a concurrent change of them (which
    needs the resource's lock) is a 409, since the databases it adds were not locked here.
    """
    await queries.databases_lock(conn, database_ids, Lock.CHANGE)
    resource = await resource_require(conn, account_id, resource_id, lock=Lock.CHANGE)
    if set(await _links(conn, resource_id)) != linked:
        raise Conflict(f"Resource {resource_id} was changed by another request meanwhile; try again")
    return resource


async def _channels_in_use(conn: AsyncConnection, account_id: int, resource_id: int, channels: set[str]) -> list[str]:
    if not channels:
        return []
    database_ids = await queries.account_database_ids(conn, account_id)
    used = await queries.profiles_subscribed(conn, resource_id, database_ids, [CHANNEL_CODES[c] for c in channels])
    problems = []
    for channel in sorted(channels):
        where = {database_id: n for (database_id, code), n in used.items() if CHANNEL_NAMES[code] == channel}
        if where:
            problems.append(
                f"channel {channel} of resource {resource_id} is in use: live subscriptions of "
                f"{_profiles(sum(where.values()))} in {_databases(where)}; delete them (subscriptions/delete) "
                f"first, or keep {channel} in channels"
            )
    return problems


async def _links_in_use(conn: AsyncConnection, account_id: int, resource_id: int, unlinked: set[int]) -> list[str]:
    if not unlinked:
        return []
    used: dict[int, int] = {}
    for (database_id, _), count in (await queries.profiles_subscribed(conn, resource_id, unlinked)).items():
        used[database_id] = used.get(database_id, 0) + count
    problems = []
    for database_id in sorted(unlinked):
        if used.get(database_id):
            problems.append(
                f"database {database_id} is in use by resource {resource_id}: live subscriptions of "
                f"{_profiles(used[database_id])}; delete them (subscriptions/delete) first, or keep "
                f"{database_id} in dbs_ids"
            )
        busy = await queries.tasks_active_naming(conn, account_id, database_id=database_id, resource_id=resource_id)
        if busy:
            problems.append(
                f"database {database_id} {_busy(busy)} with resource {resource_id}; unlink it once "
                f"{_ended(busy)} (tasks/status)"
            )
    return problems


def _busy(task_ids: list[str]) -> str:
    shown = ", ".join(task_ids[:3]) + (", ..." if len(task_ids) > 3 else "")
    return f"has {len(task_ids)} queued or running task{'s' if len(task_ids) > 1 else ''} ({shown})"


def _ended(task_ids: list[str]) -> str:
    return "it has ended" if len(task_ids) == 1 else "they have ended"


def _profiles(count: int) -> str:
    return f"{count} profile{'s' if count != 1 else ''}"


def _databases(counts: dict[int, int]) -> str:
    ids = sorted(counts)
    return f"database {ids[0]}" if len(ids) == 1 else "databases " + ", ".join(str(i) for i in ids)
