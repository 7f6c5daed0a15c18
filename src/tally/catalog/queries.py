"""Every statement on ``databases``, ``resources`` and the links between them."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy import Row, Select, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.queue.states import ACTIVE_STATUSES
from tally.store.tables import (
    counter_sets,
    database_resources,
    databases,
    profile_count_deltas,
    profile_phones,
    profiles,
    resources,
    subscription_counts,
    subscriptions,
    tasks,
)


class Lock(Enum):
    """Row locks that order catalog deletes and changes against the writes that use the rows.

    PostgreSQL only: a SQLite write transaction holds the database's one write lock anyway.
    """

    #: FOR KEY SHARE: the row stays (not deleted, not locked for a change) until commit.
    #: Pins do not wait for each other, nor for plain UPDATEs (the live-profile fold).
    PIN = "pin"
    #: FOR UPDATE: this transaction deletes or changes the row; pins wait for its commit.
    CHANGE = "change"


def _locked(query: Select[Any], lock: Lock | None, table: Table) -> Select[Any]:
    if lock is Lock.PIN:
        return query.with_for_update(read=True, key_share=True, of=table)
    if lock is Lock.CHANGE:
        return query.with_for_update(of=table)
    return query


def _locked_variants(query: Select[Any], table: Table) -> dict[Lock | None, Select[Any]]:
    """``query`` unlocked and under each lock, built once."""
    return {lock: _locked(query, lock, table) for lock in (None, *Lock)}


#: A database's live profiles: the folded count plus the deltas not folded yet. One
#: statement, so that it reads one snapshot even at READ COMMITTED.
PROFILES_COUNT = (
    databases.c.live_profiles
    + select(func.coalesce(func.sum(profile_count_deltas.c.delta), 0))
    .where(profile_count_deltas.c.database_id == databases.c.id)
    .scalar_subquery()
).label("profiles_count")
_DATABASE: Select[Any] = select(databases.c.id, databases.c.name, databases.c.description, PROFILES_COUNT)


# database_insert -- a new database of an account; its id.
async def database_insert(conn: AsyncConnection, account_id: int, name: str, description: str, now: datetime) -> int:
    result = await conn.execute(
        insert(databases)
        .values(account_id=account_id, name=name, description=description, created_at=now)
        .returning(databases.c.id)
    )
    return int(result.scalar_one())


# database_get -- one database of one account, locked as asked.
async def database_get(
    conn: AsyncConnection, account_id: int, database_id: int, lock: Lock | None = None
) -> Row[Any] | None:
    values = {"database_id": database_id, "account_id": account_id}
    row: Row[Any] | None = (await conn.execute(_DATABASE_OF_ACCOUNT[lock], values)).first()
    return row


# Built once, as tasks/status's reads are (queue/queries.py says why): every call that
# names a database or a resource runs these.
_DATABASE_OF_ACCOUNT = _locked_variants(
    _DATABASE.where(databases.c.id == bindparam("database_id"), databases.c.account_id == bindparam("account_id")),
    databases,
)


# databases_lock -- lock databases by id, in id order (so that two lockers never deadlock);
# the ids that exist.
async def databases_lock(conn: AsyncConnection, database_ids: Collection[int], lock: Lock) -> list[int]:
    if not database_ids:
        return []
    query = select(databases.c.id).where(databases.c.id.in_(sorted(database_ids))).order_by(databases.c.id)
    return [int(row.id) for row in await conn.execute(_locked(query, lock, databases))]


# database_update -- set some columns of a database (name, description).
async def database_update(conn: AsyncConnection, database_id: int, values: dict[str, Any]) -> None:
    if values:
        await conn.execute(update(databases).where(databases.c.id == database_id).values(**values))


# database_delete -- a database and everything that hangs on it: its profiles, their
# subscriptions and phones, their maintained counts (tables without foreign keys), then the
# database, whose links, counter sets and count deltas go by ON DELETE CASCADE.
async def database_delete(conn: AsyncConnection, database_id: int) -> None:
    # By profile: the identity index leads with profile_id; no index leads with database_id.
    of_database = select(profiles.c.id).where(profiles.c.database_id == database_id)
    await conn.execute(delete(subscriptions).where(subscriptions.c.profile_id.in_(of_database)))
    await conn.execute(delete(profile_phones).where(profile_phones.c.database_id == database_id))
    await conn.execute(delete(profiles).where(profiles.c.database_id == database_id))
    # After the subscriptions: their delete trigger has just written the last deltas.
    await conn.execute(delete(subscription_counts).where(subscription_counts.c.database_id == database_id))
    await conn.execute(delete(databases).where(databases.c.id == database_id))


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
    # The databases are locked before their deltas, as databases/delete locks them (for a
    # change) before its cascade deletes their deltas: the other order would deadlock. FOR
    # NO KEY UPDATE waits for no pin (a write adding profiles).
    pending = select(profile_count_deltas.c.database_id).distinct().scalar_subquery()
    locked = await conn.execute(
        select(databases.c.id)
        .where(databases.c.id.in_(pending))
        .order_by(databases.c.id)
        .with_for_update(key_share=True)
    )
    database_ids = [int(row.id) for row in locked]
    if not database_ids:
        return 0
    # Exactly the rows deleted are added: a delta committed meanwhile waits for the next fold.
    deleted = await conn.execute(
        delete(profile_count_deltas)
        .where(profile_count_deltas.c.database_id.in_(database_ids))
        .returning(profile_count_deltas.c.database_id, profile_count_deltas.c.delta)
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


# resource_get -- one resource of one account, locked as asked.
async def resource_get(
    conn: AsyncConnection, account_id: int, resource_id: int, lock: Lock | None = None
) -> Row[Any] | None:
    values = {"resource_id": resource_id, "account_id": account_id}
    row: Row[Any] | None = (await conn.execute(_RESOURCE_OF_ACCOUNT[lock], values)).first()
    return row


_RESOURCE_OF_ACCOUNT = _locked_variants(
    select(resources).where(
        resources.c.id == bindparam("resource_id"), resources.c.account_id == bindparam("account_id")
    ),
    resources,
)


# resource_update -- set some columns of a resource (name; channels, stored sorted).
async def resource_update(conn: AsyncConnection, resource_id: int, values: dict[str, Any]) -> None:
    if "channels" in values:
        values = {**values, "channels": sorted(set(values["channels"]))}
    if values:
        await conn.execute(update(resources).where(resources.c.id == resource_id).values(**values))


# resource_delete -- a resource, its subscriptions (no foreign key: one scan of the table), then
# its links and counter sets (ON DELETE CASCADE).
async def resource_delete(conn: AsyncConnection, resource_id: int) -> None:
    await conn.execute(delete(subscriptions).where(subscriptions.c.resource_id == resource_id))
    await conn.execute(delete(subscription_counts).where(subscription_counts.c.resource_id == resource_id))
    await conn.execute(delete(resources).where(resources.c.id == resource_id))


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


# links_delete -- unlink a resource from databases, and drop the counters of those pairs.
async def links_delete(conn: AsyncConnection, resource_id: int, database_ids: Collection[int]) -> None:
    if database_ids:
        ids = sorted(database_ids)
        await conn.execute(
            delete(database_resources).where(
                database_resources.c.resource_id == resource_id, database_resources.c.database_id.in_(ids)
            )
        )
        await conn.execute(
            delete(counter_sets).where(counter_sets.c.resource_id == resource_id, counter_sets.c.database_id.in_(ids))
        )


# link_exists -- whether a resource is linked to a database.
async def link_exists(conn: AsyncConnection, database_id: int, resource_id: int) -> bool:
    found = await conn.scalar(_LINK, {"database_id": database_id, "resource_id": resource_id})
    return found is not None


_LINK = select(database_resources.c.resource_id).where(
    database_resources.c.database_id == bindparam("database_id"),
    database_resources.c.resource_id == bindparam("resource_id"),
)


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


# profiles_subscribed -- per (database, channel code): how many live profiles have a live
# subscription to the resource there, within these databases (and channels, if given).
async def profiles_subscribed(
    conn: AsyncConnection, resource_id: int, database_ids: Collection[int], channels: Collection[int] | None = None
) -> dict[tuple[int, int], int]:
    # A live subscription makes its (profile, resource, channel) have exactly one effective
    # one, so counting is_effective rows reads only ix_subscriptions_count.
    if not database_ids or (channels is not None and not channels):
        return {}
    where = [
        subscriptions.c.database_id.in_(sorted(database_ids)),
        subscriptions.c.resource_id == resource_id,
        subscriptions.c.is_effective.is_(True),
    ]
    if channels is not None:
        where.append(subscriptions.c.channel.in_(sorted(channels)))
    rows = await conn.execute(
        select(subscriptions.c.database_id, subscriptions.c.channel, func.count())
        .where(*where)
        .group_by(subscriptions.c.database_id, subscriptions.c.channel)
    )
    return {(database_id, channel): int(count) for database_id, channel, count in rows}


# account_database_ids -- the ids of an account's databases.
async def account_database_ids(conn: AsyncConnection, account_id: int) -> list[int]:
    rows = await conn.execute(select(databases.c.id).where(databases.c.account_id == account_id))
    return [int(row.id) for row in rows]


# tasks_active_naming -- the account's queued or running tasks whose params name these
# values (e.g. database_id=5, resource_id=24): the tasks that keep them from being deleted.
async def tasks_active_naming(conn: AsyncConnection, account_id: int, **named: int) -> list[str]:
    # An account has few active tasks (one refresh per pair at most), so they are matched
    # here rather than by a JSON path, which each backend spells and casts differently.
    rows = await conn.execute(
        select(tasks.c.id, tasks.c.params)
        .where(tasks.c.account_id == account_id, tasks.c.status.in_(ACTIVE_STATUSES))
        .order_by(tasks.c.created_at, tasks.c.id)
    )
    return [
        str(row.id)
        for row in rows
        if isinstance(row.params, dict) and all(row.params.get(key) == value for key, value in named.items())
    ]
