"""Writing and reading profiles and subscriptions, keeping the derived columns exact.

New profiles take a fast path (rows.py): their rows, flags included, are computed in Python
and inserted with one statement per table. Every other write changes what it changes, then
calls ``queries.subscriptions_recompute_flags`` for the profiles it touched. Imports (add or
update by a matching key) are upsert.py's. Each function runs in the caller's transaction
and returns plain data; routes.py gives it its API shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.catalog import queries as catalog_queries
from tally.catalog.channels import CHANNEL_CODES, CHANNEL_NAMES, address_key, is_deliverable
from tally.catalog.queries import Lock
from tally.catalog.service import Page, Resource, database_require, resource_require, resources_for_database
from tally.errors import BadRequest, NotFound, TallyError
from tally.profiles import queries
from tally.profiles.input import Matching, ProfileInput, ProfileNotFound, SubscriptionInput
from tally.profiles.merge import normal_key
from tally.profiles.rows import new_profile_row, new_subscription_rows
from tally.profiles.statuses import Status
from tally.store.types import utcnow


@dataclass(frozen=True)
class Subscription:
    resource_id: int
    channel: str
    address: dict[str, Any]
    status: Status
    priority: int
    is_effective: bool


@dataclass(frozen=True)
class Profile:
    id: int
    database_id: int
    email: str | None
    phones: list[str]
    global_status: Status | None
    fields: dict[str, Any]
    subscriptions: list[Subscription]


@dataclass(frozen=True)
class LinkedResources:
    """The resources a database may hold subscriptions to, loaded once per request."""

    database_id: int
    linked: dict[int, Resource]
    #: Every resource of the account: one of them that is not linked is a 400, not a 404.
    of_account: frozenset[int]

    def check(self, subscription: SubscriptionInput) -> None:
        resource = self.linked.get(subscription.resource_id)
        if resource is None:
            if subscription.resource_id in self.of_account:
                raise BadRequest(
                    f"Invalid parameter: resource {subscription.resource_id} is not linked "
                    f"to database {self.database_id}"
                )
            raise NotFound(f"Resource not found: {subscription.resource_id}")
        if subscription.channel not in resource.channels:
            raise BadRequest(
                f"Invalid parameter: resource {resource.id} has no channel "
                f"{subscription.channel!r} (it has {', '.join(resource.channels)})"
            )

    def check_profile(self, item: ProfileInput) -> None:
        for subscription in item.subscriptions:
            self.check(subscription)


async def linked_resources(conn: AsyncConnection, account_id: int, database_id: int) -> LinkedResources:
    """The database (404 unless it is the account's) and the resources it is linked to."""
    await database_require(conn, account_id, database_id)
    linked, of_account = await resources_for_database(conn, account_id, database_id)
    return LinkedResources(database_id, linked=linked, of_account=of_account)


async def profiles_add(
    conn: AsyncConnection, account_id: int, database_id: int, items: Sequence[ProfileInput]
) -> list[int]:
    """Insert new profiles with their subscriptions; their ids, in order.

    A subscription the database may not hold refuses them all (the error is raised).
    """
    linked = await linked_resources(conn, account_id, database_id)
    for item in items:
        linked.check_profile(item)
    return await insert_new(conn, account_id, database_id, items)


async def profiles_add_batch(
    conn: AsyncConnection, account_id: int, database_id: int, items: Sequence[ProfileInput | TallyError]
) -> list[int | TallyError]:
    """Like profiles_add, but each item succeeds or fails alone: its id or its error.

    An item may arrive as the error its validation gave; the valid ones go in together.
    """
    linked = await linked_resources(conn, account_id, database_id)
    checked = [item if isinstance(item, TallyError) else _checked(linked, item) for item in items]
    ids = iter(
        await insert_new(conn, account_id, database_id, [item for item in checked if isinstance(item, ProfileInput)])
    )
    return [item if isinstance(item, TallyError) else next(ids) for item in checked]


def _checked(linked: LinkedResources, item: ProfileInput) -> ProfileInput | TallyError:
    try:
        linked.check_profile(item)
    except TallyError as error:
        return error
    return item


async def insert_new(
    conn: AsyncConnection, account_id: int, database_id: int, items: Sequence[ProfileInput]
) -> list[int]:
    """New profiles with their subscriptions (rows.py computes every column); their ids."""
    if not items:
        return []
    now = utcnow()
    ids = await queries.profile_ids_allocate(conn, len(items))
    pairs = list(zip(ids, items, strict=True))
    profile_rows = [new_profile_row(profile_id, account_id, database_id, item, now) for profile_id, item in pairs]
    await queries.profiles_insert(conn, profile_rows)
    await queries.profile_phones_insert(conn, profile_rows)
    rows = [row for profile_id, item in pairs for row in new_subscription_rows(profile_id, database_id, item, now)]
    if rows:
        await queries.subscriptions_insert(conn, rows)
    await catalog_queries.profile_count_change(conn, database_id, len(ids))
    return ids


async def profile_find(
    conn: AsyncConnection, account_id: int, database_id: int | None, matching: Matching, key: str
) -> int:
    """The id of the oldest live profile with this key (emails and phones: in ``database_id``)."""
    if matching == "profile_id":
        profile = await _profile_require(conn, account_id, int(key))
        if database_id is None or profile.database_id == database_id:
            return int(profile.id)
    else:
        if database_id is None:
            raise BadRequest(f"Missing parameter: db_id (matching by {matching} finds a profile within one database)")
        await database_require(conn, account_id, database_id)
        found = await queries.profiles_by_key(
            conn, account_id, database_id, matching, [normal_key(matching, key)], lock=False
        )
        if found:
            return int(found[0].id)
    raise ProfileNotFound(f"Profile not found: {key}")


async def profile_get(conn: AsyncConnection, account_id: int, profile_id: int) -> Profile:
    profile = await _profile_require(conn, account_id, profile_id)
    [found] = _profiles([profile], await queries.subscriptions_of_profile(conn, profile_id))
    return found


async def profiles_page(
    conn: AsyncConnection, account_id: int, database_id: int, from_id: int, limit: int
) -> Page[Profile]:
    """The live profiles of a database from ``from_id`` on, with their subscriptions."""
    database = await database_require(conn, account_id, database_id)
    rows = await queries.profiles_from(conn, database_id, from_id, limit + 1)
    page = rows[:limit]
    subscriptions = await queries.subscriptions_of_profiles(conn, [row.id for row in page], live=True)
    return Page(
        items=_profiles(page, subscriptions),
        next_from_id=rows[limit].id if len(rows) > limit else 0,
        total_count=database.profiles_count,
    )


def _profiles(rows: Sequence[Row[Any]], subscription_rows: Sequence[Row[Any]]) -> list[Profile]:
    by_profile: dict[int, list[Subscription]] = {row.id: [] for row in rows}
    for row in sorted(subscription_rows, key=lambda row: row.id):
        by_profile[row.profile_id].append(_subscription(row))
    return [
        Profile(
            id=row.id,
            database_id=row.database_id,
            email=row.email,
            phones=row.phones,
            global_status=None if row.global_status is None else Status(row.global_status),
            fields=row.fields,
            subscriptions=by_profile[row.id],
        )
        for row in rows
    ]


def _subscription(row: Row[Any]) -> Subscription:
    return Subscription(
        resource_id=row.resource_id,
        channel=CHANNEL_NAMES[row.channel],
        address=row.address,
        status=Status(row.status),
        priority=row.priority,
        is_effective=row.is_effective,
    )


async def subscriptions_page(
    conn: AsyncConnection, account_id: int, database_id: int, profile_id: int, from_id: int, limit: int
) -> Page[Subscription]:
    """One profile's live subscriptions, paged by their (internal, ordered) ids."""
    await _profile_of_database(conn, account_id, database_id, profile_id, lock=False)
    rows = await queries.subscriptions_of_profile(conn, profile_id)
    after = [row for row in rows if row.id >= from_id]
    return Page(
        items=[_subscription(row) for row in after[:limit]],
        next_from_id=after[limit].id if len(after) > limit else 0,
        total_count=len(rows),
    )


async def subscriptions_suspend_all(
    conn: AsyncConnection, account_id: int, database_id: int, resource_id: int | None, channel: str | None
) -> int:
    """Every live subscription of the database (of one resource, on one channel) that is not
    suspended becomes so; how many changed. Each change is a change (counting.md): it takes
    a moment after every other of its (profile, resource, channel)."""
    await database_require(conn, account_id, database_id)
    if resource_id is not None:
        linked, _ = await resources_for_database(conn, account_id, database_id)
        if resource_id not in linked:
            await resource_require(conn, account_id, resource_id)
            raise BadRequest(f"Invalid parameter: resource {resource_id} is not linked to database {database_id}")
    code = None if channel is None else CHANNEL_CODES[channel]
    changed = await queries.subscriptions_suspend(conn, database_id, resource_id, code, utcnow())
    if changed:
        await queries.subscriptions_recompute_flags(conn, changed)
    return len(changed)


async def profile_delete(conn: AsyncConnection, account_id: int, profile_id: int) -> None:
    # The database is pinned before the profile is locked: the order databases/delete takes
    # them in (docs/design.md, lock order), so the two never deadlock on PostgreSQL.
    found = await _profile_require(conn, account_id, profile_id)
    await database_require(conn, account_id, found.database_id, lock=Lock.PIN)
    profile = await _profile_require(conn, account_id, profile_id, lock=True)
    await queries.profile_mark_deleted(conn, profile_id, utcnow())
    await queries.subscriptions_recompute_flags(conn, [profile_id])
    await catalog_queries.profile_count_change(conn, profile.database_id, -1)


async def subscription_set(
    conn: AsyncConnection,
    account_id: int,
    database_id: int,
    profile_id: int,
    subscription: SubscriptionInput,
) -> None:
    """Add a subscription or change it; a write that changes nothing is not a change."""
    linked = await linked_resources(conn, account_id, database_id)
    await _profile_of_database(conn, account_id, database_id, profile_id)
    linked.check(subscription)
    channel = CHANNEL_CODES[subscription.channel]
    key = address_key(subscription.address)
    existing = await queries.subscription_find(conn, profile_id, subscription.resource_id, channel, key)
    if existing is not None and (
        (existing.status, existing.priority, existing.is_deleted) == (subscription.status, subscription.priority, False)
    ):
        return
    values = {
        "status": int(subscription.status),
        "priority": subscription.priority,
        "is_deleted": False,
        "change_seq": await queries.subscription_next_change_seq(conn, profile_id, subscription.resource_id, channel),
        "updated_at": utcnow(),
    }
    if existing is None:
        await queries.subscription_insert(
            conn,
            {
                "profile_id": profile_id,
                "database_id": database_id,
                "resource_id": subscription.resource_id,
                "channel": channel,
                "address": subscription.address,
                "address_key": key,
                "is_deliverable": is_deliverable(subscription.channel, subscription.address),
                **values,
            },
        )
    else:
        await queries.subscription_update(conn, existing.id, values)
    await queries.subscriptions_recompute_flags(conn, [profile_id])


async def subscription_delete(
    conn: AsyncConnection,
    account_id: int,
    database_id: int,
    profile_id: int,
    subscription: SubscriptionInput,
) -> None:
    await database_require(conn, account_id, database_id)
    await _profile_of_database(conn, account_id, database_id, profile_id)
    channel = CHANNEL_CODES[subscription.channel]
    existing = await queries.subscription_find(
        conn, profile_id, subscription.resource_id, channel, address_key(subscription.address)
    )
    if existing is None or existing.is_deleted:
        raise NotFound("Subscription not found")
    seq = await queries.subscription_next_change_seq(conn, profile_id, subscription.resource_id, channel)
    await queries.subscription_update(
        conn, existing.id, {"is_deleted": True, "change_seq": seq, "updated_at": utcnow()}
    )
    await queries.subscriptions_recompute_flags(conn, [profile_id])


async def _profile_require(conn: AsyncConnection, account_id: int, profile_id: int, *, lock: bool = False) -> Row[Any]:
    """The live profile, or 404; ``lock`` serialises writers of one profile on PostgreSQL."""
    row = await queries.profile_select(conn, account_id, profile_id, lock=lock)
    if row is None:
        raise ProfileNotFound(f"Profile not found: {profile_id}")
    return row


async def _profile_of_database(
    conn: AsyncConnection, account_id: int, database_id: int, profile_id: int, *, lock: bool = True
) -> Row[Any]:
    profile = await _profile_require(conn, account_id, profile_id, lock=lock)
    if profile.database_id != database_id:
        raise ProfileNotFound(f"Profile not found: {profile_id}")
    return profile
