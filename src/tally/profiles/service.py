"""Writing profiles and subscriptions, keeping the derived columns exact.

New profiles take a fast path: all of their rows are computed in Python (the effective
rule applied to what the request lists) and inserted with one statement per table, so a
batch of 10,000 profiles costs two inserts, not 10,000 round trips. Changes to existing
subscriptions recompute only the (profile, resource, channel) group they touch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, func, insert, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.catalog.channels import CHANNEL_CODES, CHANNEL_NAMES, address_key, is_deliverable
from tally.catalog.service import Resource, database_require
from tally.errors import BadRequest, NotFound
from tally.profiles.effective import Candidate, is_blocked, is_sendable, pick_effective
from tally.profiles.input import ProfileInput, SubscriptionInput
from tally.profiles.statuses import Status
from tally.store.engine import is_sqlite
from tally.store.tables import database_resources, databases, profiles, resources, subscriptions
from tally.store.types import utcnow


class ProfileNotFound(NotFound):
    """Profile not found."""


@dataclass
class LinkedResources:
    """The resources a database may hold subscriptions to, loaded once per request."""

    database_id: int
    by_id: dict[int, Resource]

    def check(self, subscription: SubscriptionInput, account_resources: set[int]) -> None:
        resource = self.by_id.get(subscription.resource_id)
        if resource is None:
            if subscription.resource_id in account_resources:
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


async def linked_resources(
    conn: AsyncConnection, account_id: int, database_id: int
) -> tuple[LinkedResources, set[int]]:
    rows = await conn.execute(
        select(resources, database_resources.c.database_id)
        .outerjoin(
            database_resources,
            (database_resources.c.resource_id == resources.c.id) & (database_resources.c.database_id == database_id),
        )
        .where(resources.c.account_id == account_id)
    )
    linked: dict[int, Resource] = {}
    all_ids: set[int] = set()
    for row in rows:
        all_ids.add(row.id)
        if row.database_id is not None:
            linked[row.id] = Resource.from_row(row)
    return LinkedResources(database_id, linked), all_ids


async def profiles_add(
    conn: AsyncConnection, account_id: int, database_id: int, items: list[ProfileInput]
) -> list[int]:
    """Insert new profiles with their subscriptions; returns their ids in order."""
    if not items:
        return []
    now = utcnow()
    ids = await _allocate_profile_ids(conn, len(items))
    await conn.execute(
        insert(profiles),
        [
            {
                "id": profile_id,
                "account_id": account_id,
                "database_id": database_id,
                "email": item.email,
                "phones": item.phones,
                "fields": item.fields,
                "global_status": None if item.global_status is None else int(item.global_status),
                "is_deleted": False,
                "created_at": now,
                "updated_at": now,
            }
            for profile_id, item in zip(ids, items, strict=True)
        ],
    )
    rows = [
        row
        for profile_id, item in zip(ids, items, strict=True)
        for row in _new_subscription_rows(profile_id, database_id, item, now)
    ]
    if rows:
        await conn.execute(insert(subscriptions), rows)
    await conn.execute(
        update(databases)
        .where(databases.c.id == database_id)
        .values(live_profiles=databases.c.live_profiles + len(ids))
    )
    return ids


async def _allocate_profile_ids(conn: AsyncConnection, count: int) -> list[int]:
    """Ids for ``count`` new profiles, so that the insert needs no RETURNING.

    An insert with RETURNING makes the SQLite driver hand back rows one by one, which cost
    most of a 10,000-profile batch. SQLite writes under BEGIN IMMEDIATE, so the ids after
    the current maximum are ours; PostgreSQL draws them from the column's sequence.
    """
    if is_sqlite(conn):
        highest = await conn.scalar(select(func.max(profiles.c.id)))
        first = int(highest or 0) + 1
        return list(range(first, first + count))
    drawn = await conn.execute(
        select(func.nextval(literal_column("pg_get_serial_sequence('profiles', 'id')"))).select_from(
            func.generate_series(1, count)
        )
    )
    return [int(profile_id) for profile_id in drawn.scalars()]


def _new_subscription_rows(
    profile_id: int, database_id: int, item: ProfileInput, now: datetime
) -> list[dict[str, Any]]:
    # The same (resource, channel, address) listed twice is one subscription, written twice.
    # A later write is a change (more recent) only if it changes status or priority
    # (counting.md): otherwise the subscription keeps the moment of its earlier write.
    by_identity: dict[tuple[int, str, str], tuple[int, SubscriptionInput]] = {}
    for seq, subscription in enumerate(item.subscriptions, start=1):
        identity = (
            subscription.resource_id,
            subscription.channel,
            address_key(subscription.address),
        )
        earlier = by_identity.get(identity)
        if earlier is not None and (earlier[1].status, earlier[1].priority) == (
            subscription.status,
            subscription.priority,
        ):
            continue
        by_identity[identity] = (seq, subscription)
    groups: dict[tuple[int, str], list[Candidate]] = {}
    for (resource_id, channel, _), (seq, subscription) in by_identity.items():
        groups.setdefault((resource_id, channel), []).append(
            Candidate(id=seq, priority=subscription.priority, change_seq=seq, is_deleted=False)
        )
    effective_seqs = {pick.change_seq for group in groups.values() if (pick := pick_effective(group))}
    blocked = is_blocked(item.global_status)
    rows = []
    for (resource_id, channel, key), (seq, subscription) in by_identity.items():
        deliverable = is_deliverable(channel, subscription.address)
        effective = seq in effective_seqs
        rows.append(
            {
                "profile_id": profile_id,
                "database_id": database_id,
                "resource_id": resource_id,
                "channel": CHANNEL_CODES[channel],
                "address": subscription.address,
                "address_key": key,
                "status": int(subscription.status),
                "priority": subscription.priority,
                "is_deleted": False,
                "change_seq": seq,
                "is_deliverable": deliverable,
                "is_effective": effective,
                "is_sendable": is_sendable(
                    is_effective=effective,
                    status=subscription.status,
                    is_deliverable=deliverable,
                    profile_blocked=blocked,
                ),
                "updated_at": now,
            }
        )
    return rows


async def profile_require(conn: AsyncConnection, account_id: int, profile_id: int, *, lock: bool = False) -> Row[Any]:
    """The live profile, or 404; ``lock`` serialises writers of one profile on PostgreSQL."""
    query = select(profiles).where(
        profiles.c.id == profile_id,
        profiles.c.account_id == account_id,
        profiles.c.is_deleted.is_(False),
    )
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    if row is None:
        raise ProfileNotFound(f"Profile not found: {profile_id}")
    return row


async def profile_delete(conn: AsyncConnection, account_id: int, profile_id: int) -> None:
    profile = await profile_require(conn, account_id, profile_id, lock=True)
    await conn.execute(update(profiles).where(profiles.c.id == profile_id).values(is_deleted=True, updated_at=utcnow()))
    await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.profile_id == profile_id, subscriptions.c.is_effective.is_(True))
        .values(is_effective=False, is_sendable=False)
    )
    await conn.execute(
        update(databases)
        .where(databases.c.id == profile.database_id)
        .values(live_profiles=databases.c.live_profiles - 1)
    )


async def subscription_set(
    conn: AsyncConnection,
    account_id: int,
    database_id: int,
    profile_id: int,
    subscription: SubscriptionInput,
) -> None:
    """Add a subscription or change it; a write that changes nothing is not a change."""
    profile = await _profile_of_database(conn, account_id, database_id, profile_id)
    linked, account_resources = await linked_resources(conn, account_id, database_id)
    linked.check(subscription, account_resources)
    channel = CHANNEL_CODES[subscription.channel]
    key = address_key(subscription.address)
    existing = (
        await conn.execute(
            select(subscriptions).where(
                subscriptions.c.profile_id == profile_id,
                subscriptions.c.resource_id == subscription.resource_id,
                subscriptions.c.channel == channel,
                subscriptions.c.address_key == key,
            )
        )
    ).first()
    if existing is not None and (
        existing.status == subscription.status
        and existing.priority == subscription.priority
        and not existing.is_deleted
    ):
        return
    seq = await _next_change_seq(conn, profile_id, subscription.resource_id, channel)
    values = {
        "status": int(subscription.status),
        "priority": subscription.priority,
        "is_deleted": False,
        "change_seq": seq,
        "updated_at": utcnow(),
    }
    if existing is None:
        await conn.execute(
            insert(subscriptions).values(
                profile_id=profile_id,
                database_id=database_id,
                resource_id=subscription.resource_id,
                channel=channel,
                address=subscription.address,
                address_key=key,
                is_deliverable=is_deliverable(subscription.channel, subscription.address),
                is_effective=False,
                is_sendable=False,
                **values,
            )
        )
    else:
        await conn.execute(update(subscriptions).where(subscriptions.c.id == existing.id).values(**values))
    await _recompute_group(conn, profile, subscription.resource_id, channel)


async def subscription_delete(
    conn: AsyncConnection,
    account_id: int,
    database_id: int,
    profile_id: int,
    subscription: SubscriptionInput,
) -> None:
    profile = await _profile_of_database(conn, account_id, database_id, profile_id)
    channel = CHANNEL_CODES[subscription.channel]
    existing = await conn.scalar(
        select(subscriptions.c.id).where(
            subscriptions.c.profile_id == profile_id,
            subscriptions.c.resource_id == subscription.resource_id,
            subscriptions.c.channel == channel,
            subscriptions.c.address_key == address_key(subscription.address),
            subscriptions.c.is_deleted.is_(False),
        )
    )
    if existing is None:
        raise NotFound("Subscription not found")
    seq = await _next_change_seq(conn, profile_id, subscription.resource_id, channel)
    await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == existing)
        .values(is_deleted=True, change_seq=seq, updated_at=utcnow())
    )
    await _recompute_group(conn, profile, subscription.resource_id, channel)


async def _profile_of_database(conn: AsyncConnection, account_id: int, database_id: int, profile_id: int) -> Row[Any]:
    await database_require(conn, account_id, database_id)
    profile = await profile_require(conn, account_id, profile_id, lock=True)
    if profile.database_id != database_id:
        raise ProfileNotFound(f"Profile not found: {profile_id}")
    return profile


async def _next_change_seq(conn: AsyncConnection, profile_id: int, resource_id: int, channel: int) -> int:
    current = await conn.scalar(
        select(func.max(subscriptions.c.change_seq)).where(
            subscriptions.c.profile_id == profile_id,
            subscriptions.c.resource_id == resource_id,
            subscriptions.c.channel == channel,
        )
    )
    return int(current or 0) + 1


async def _recompute_group(conn: AsyncConnection, profile: Row[Any], resource_id: int, channel: int) -> None:
    """Re-apply the effective and sendable rules to one (profile, resource, channel)."""
    rows = (
        await conn.execute(
            select(subscriptions).where(
                subscriptions.c.profile_id == profile.id,
                subscriptions.c.resource_id == resource_id,
                subscriptions.c.channel == channel,
            )
        )
    ).all()
    pick = pick_effective([Candidate(r.id, r.priority, r.change_seq, r.is_deleted) for r in rows])
    blocked = is_blocked(profile.global_status)
    for row in rows:
        effective = pick is not None and row.id == pick.id
        sendable = is_sendable(
            is_effective=effective,
            status=row.status,
            is_deliverable=row.is_deliverable,
            profile_blocked=blocked,
        )
        if (row.is_effective, row.is_sendable) != (effective, sendable):
            await conn.execute(
                update(subscriptions)
                .where(subscriptions.c.id == row.id)
                .values(is_effective=effective, is_sendable=sendable)
            )


async def profile_get(conn: AsyncConnection, account_id: int, profile_id: int) -> dict[str, Any]:
    profile = await profile_require(conn, account_id, profile_id)
    rows = await conn.execute(
        select(subscriptions)
        .where(subscriptions.c.profile_id == profile_id, subscriptions.c.is_deleted.is_(False))
        .order_by(subscriptions.c.id)
    )
    data: dict[str, Any] = {"email": profile.email, "phones": profile.phones}
    if profile.global_status is not None:
        data["_status"] = Status(profile.global_status).word
    data.update(profile.fields)
    data["subscriptions"] = [
        {
            "resource_id": row.resource_id,
            "channel": CHANNEL_NAMES[row.channel],
            **row.address,
            "status": Status(row.status).word,
            "priority": row.priority,
            "is_effective": row.is_effective,
        }
        for row in rows
    ]
    return {"profile_id": str(profile.id), "db_id": profile.database_id, "data": data}
