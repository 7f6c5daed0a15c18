"""Every statement on ``profiles`` and ``subscriptions``, one named function each.

``subscriptions_recompute_flags`` is the SQL form of the rules in effective.py: every write
that changes a subscription's priority, status or deletion, or a profile's global status or
deletion, calls it for the profiles it touched, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, and_, bindparam, delete, func, insert, literal_column, not_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.profiles.keys import phone_key
from tally.profiles.statuses import BLOCKING_STATUSES, SENDABLE_STATUSES, Status
from tally.store.bulk import insert_rows, one_of
from tally.store.engine import is_sqlite
from tally.store.tables import profile_phones, profiles, subscriptions

SUSPENDED = Status.SUSPENDED
#: Profiles per recompute statement: each id is a bind parameter, and SQLite takes at most
#: 32,766 of them in one statement.
DEFAULT_RECOMPUTE_CHUNK = 5_000


# profile_ids_allocate: ids for new profiles, so that their insert needs no RETURNING.
async def profile_ids_allocate(conn: AsyncConnection, count: int) -> list[int]:
    """An insert with RETURNING makes the SQLite driver hand back rows one by one, which cost
    most of a 10,000-profile batch. SQLite writes under BEGIN IMMEDIATE, so the ids after the
    current maximum are ours; PostgreSQL draws them from the column's sequence.
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


# profiles_insert: new profiles, one statement for all of them.
async def profiles_insert(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await insert_rows(conn, profiles, rows)


# profile_phones_insert: the phone keys of new profiles, each once per profile (matching by phone).
async def profile_phones_insert(conn: AsyncConnection, profile_rows: list[dict[str, Any]]) -> None:
    rows = [
        {"profile_id": row["id"], "phone": key, "database_id": row["database_id"]}
        for row in profile_rows
        for key in dict.fromkeys(phone_key(phone) for phone in row["phones"])
    ]
    await insert_rows(conn, profile_phones, rows)


# profiles_with_phone: the live profiles of a database that have this phone, oldest first.
async def profiles_with_phone(conn: AsyncConnection, account_id: int, database_id: int, phone: str) -> list[int]:
    rows = await conn.execute(
        select(profiles.c.id)
        .join(profile_phones, profile_phones.c.profile_id == profiles.c.id)
        .where(
            profile_phones.c.database_id == database_id,
            profile_phones.c.phone == phone,
            profiles.c.account_id == account_id,
            profiles.c.is_deleted.is_(False),
        )
        .order_by(profiles.c.id)
    )
    return [int(profile_id) for profile_id in rows.scalars()]


#: What an import reads of a stored profile and of its subscriptions (merge.py).
_MERGED = (profiles.c.id, profiles.c.email, profiles.c.phones, profiles.c.global_status, profiles.c.fields)
_IDENTITY = (
    subscriptions.c.id,
    subscriptions.c.profile_id,
    subscriptions.c.resource_id,
    subscriptions.c.channel,
    subscriptions.c.address_key,
    subscriptions.c.status,
    subscriptions.c.priority,
    subscriptions.c.is_deleted,
    subscriptions.c.change_seq,
)


# profiles_by_key: the live profiles of a database that have one of these matching keys
# (normalised: profiles/keys.py), oldest first; ``lock`` holds them until the commit (PostgreSQL).
async def profiles_by_key(
    conn: AsyncConnection, account_id: int, database_id: int, matching: str, keys: Sequence[str], *, lock: bool
) -> list[Row[Any]]:
    query = select(*_MERGED).where(
        profiles.c.database_id == database_id,
        profiles.c.account_id == account_id,
        profiles.c.is_deleted.is_(False),
    )
    if matching == "email":
        query = query.where(one_of(conn, profiles.c.email_key, keys))
    elif matching == "phone":
        having = select(profile_phones.c.profile_id).where(
            profile_phones.c.database_id == database_id, one_of(conn, profile_phones.c.phone, keys)
        )
        query = query.where(profiles.c.id.in_(having))
    else:
        query = query.where(one_of(conn, profiles.c.id, [int(key) for key in keys]))
    query = query.order_by(profiles.c.id)
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    return list(await conn.execute(query))


# profiles_update: stored profiles' fields, one row of values per profile (executemany).
async def profiles_update(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    names = ("email", "email_key", "phones", "fields", "global_status", "updated_at")
    await conn.execute(
        update(profiles)
        .where(profiles.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in names}),
        [{f"b_{name}": value for name, value in row.items()} for row in rows],
    )


# profile_phones_replace: the phone keys of stored profiles whose phones changed.
async def profile_phones_replace(conn: AsyncConnection, profile_rows: list[dict[str, Any]]) -> None:
    ids = [row["id"] for row in profile_rows]
    await conn.execute(delete(profile_phones).where(one_of(conn, profile_phones.c.profile_id, ids)))
    await profile_phones_insert(conn, profile_rows)


# profile_select: a live profile of the account; ``lock`` holds it until the commit (PostgreSQL).
async def profile_select(conn: AsyncConnection, account_id: int, profile_id: int, *, lock: bool) -> Row[Any] | None:
    query = select(profiles).where(
        profiles.c.id == profile_id,
        profiles.c.account_id == account_id,
        profiles.c.is_deleted.is_(False),
    )
    if lock and not is_sqlite(conn):
        query = query.with_for_update()
    return (await conn.execute(query)).first()


# profile_mark_deleted: live -> deleted (its subscriptions' flags follow by the recompute).
async def profile_mark_deleted(conn: AsyncConnection, profile_id: int, now: datetime) -> None:
    await conn.execute(update(profiles).where(profiles.c.id == profile_id).values(is_deleted=True, updated_at=now))


# subscriptions_insert: new rows with their flags already computed (profiles_add).
async def subscriptions_insert(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    await insert_rows(conn, subscriptions, rows)


# subscription_find: one subscription by its identity, deleted or not.
async def subscription_find(
    conn: AsyncConnection, profile_id: int, resource_id: int, channel: int, address_key: str
) -> Row[Any] | None:
    query = select(subscriptions).where(
        subscriptions.c.profile_id == profile_id,
        subscriptions.c.resource_id == resource_id,
        subscriptions.c.channel == channel,
        subscriptions.c.address_key == address_key,
    )
    return (await conn.execute(query)).first()


# subscription_next_change_seq: the next moment of change in one (profile, resource, channel).
async def subscription_next_change_seq(conn: AsyncConnection, profile_id: int, resource_id: int, channel: int) -> int:
    current = await conn.scalar(
        select(func.max(subscriptions.c.change_seq)).where(
            subscriptions.c.profile_id == profile_id,
            subscriptions.c.resource_id == resource_id,
            subscriptions.c.channel == channel,
        )
    )
    return int(current or 0) + 1


# subscription_insert: one new subscription; its flags are set by the recompute that follows.
async def subscription_insert(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(insert(subscriptions).values(**values, is_effective=False, is_sendable=False))


# subscription_update: a change of status, priority or deletion of one subscription.
async def subscription_update(conn: AsyncConnection, subscription_id: int, values: dict[str, Any]) -> None:
    await conn.execute(update(subscriptions).where(subscriptions.c.id == subscription_id).values(**values))


# subscription_identities: every subscription of these profiles (deleted ones too), without
# its address (the identity's key says which it is).
async def subscription_identities(conn: AsyncConnection, profile_ids: Sequence[int]) -> list[Row[Any]]:
    return list(await conn.execute(select(*_IDENTITY).where(one_of(conn, subscriptions.c.profile_id, profile_ids))))


# subscriptions_of_profiles: the subscriptions of these profiles; deleted ones too unless ``live``.
async def subscriptions_of_profiles(
    conn: AsyncConnection, profile_ids: Sequence[int], *, live: bool = False
) -> list[Row[Any]]:
    query = select(subscriptions).where(one_of(conn, subscriptions.c.profile_id, profile_ids))
    if live:
        query = query.where(subscriptions.c.is_deleted.is_(False))
    return list(await conn.execute(query))


# profiles_from: a page of a database's live profiles, by id from ``from_id`` on.
async def profiles_from(conn: AsyncConnection, database_id: int, from_id: int, limit: int) -> list[Row[Any]]:
    rows = await conn.execute(
        select(profiles)
        .where(profiles.c.database_id == database_id, profiles.c.id >= from_id, profiles.c.is_deleted.is_(False))
        .order_by(profiles.c.id)
        .limit(limit)
    )
    return list(rows)


# subscriptions_suspend: the live subscriptions of the database's live profiles (of one
# resource, on one channel) that are not suspended become so, each a moment after every other
# of its group (the group's highest moment before the statement, plus its own: their order
# among themselves is kept); the profile id of each one changed.
async def subscriptions_suspend(
    conn: AsyncConnection, database_id: int, resource_id: int | None, channel: int | None, now: datetime
) -> list[int]:
    def scoped(table: Any) -> list[Any]:
        conditions = [table.c.database_id == database_id]
        if resource_id is not None:
            conditions.append(table.c.resource_id == resource_id)
        if channel is not None:
            conditions.append(table.c.channel == channel)
        return conditions

    s = subscriptions.alias("s")
    tops = (
        select(s.c.profile_id, s.c.resource_id, s.c.channel, func.max(s.c.change_seq).label("top"))
        .where(*scoped(s))
        .group_by(s.c.profile_id, s.c.resource_id, s.c.channel)
        .subquery("tops")
    )
    suspended = int(SUSPENDED)
    changed = await conn.execute(
        update(subscriptions)
        .where(
            *scoped(subscriptions),
            subscriptions.c.is_deleted.is_(False),
            subscriptions.c.status != suspended,
            tops.c.profile_id == subscriptions.c.profile_id,
            tops.c.resource_id == subscriptions.c.resource_id,
            tops.c.channel == subscriptions.c.channel,
            profiles.c.id == subscriptions.c.profile_id,
            profiles.c.is_deleted.is_(False),
        )
        .values(status=suspended, change_seq=subscriptions.c.change_seq + tops.c.top, updated_at=now)
        .returning(subscriptions.c.profile_id)
    )
    return [int(profile_id) for profile_id in changed.scalars()]


# subscriptions_update: changes of stored subscriptions, one row of values each (executemany).
async def subscriptions_update(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    names = ("status", "priority", "is_deleted", "change_seq", "updated_at")
    await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in names}),
        [{f"b_{name}": value for name, value in row.items()} for row in rows],
    )


# subscriptions_of_profile: a profile's subscriptions that are not deleted, oldest first.
async def subscriptions_of_profile(conn: AsyncConnection, profile_id: int) -> list[Row[Any]]:
    rows = await conn.execute(
        select(subscriptions)
        .where(subscriptions.c.profile_id == profile_id, subscriptions.c.is_deleted.is_(False))
        .order_by(subscriptions.c.id)
    )
    return list(rows)


# subscriptions_recompute_flags: is_effective and is_sendable of every subscription of these
# profiles, from the rules of effective.py; only the rows whose flags change are written.
async def subscriptions_recompute_flags(
    conn: AsyncConnection, profile_ids: Sequence[int], *, chunk: int = DEFAULT_RECOMPUTE_CHUNK
) -> None:
    ids = sorted(set(profile_ids))
    for start in range(0, len(ids), chunk):
        flags = _flags(conn, ids[start : start + chunk])
        await conn.execute(
            update(subscriptions)
            .where(
                subscriptions.c.id == flags.c.id,
                or_(
                    subscriptions.c.is_effective != flags.c.is_effective,
                    subscriptions.c.is_sendable != flags.c.is_sendable,
                ),
            )
            .values(is_effective=flags.c.is_effective, is_sendable=flags.c.is_sendable)
        )


def _flags(conn: AsyncConnection, profile_ids: list[int]) -> Any:
    """What the flags of these profiles' subscriptions should be (a subquery of id and flags).

    The first of each (profile, resource, channel) in the order not deleted, lowest
    priority, highest change_seq, highest id is the effective rule's pick, if it is not
    deleted itself. Rendered as UPDATE ... FROM on both engines (SQLite since 3.33).
    """
    s = subscriptions.alias("s")
    rank = func.row_number().over(
        partition_by=(s.c.profile_id, s.c.resource_id, s.c.channel),
        order_by=(s.c.is_deleted, s.c.priority, s.c.change_seq.desc(), s.c.id.desc()),
    )
    ranked = (
        select(
            s.c.id,
            s.c.status,
            s.c.is_deliverable,
            and_(rank == 1, not_(s.c.is_deleted), not_(profiles.c.is_deleted)).label("is_effective"),
            or_(
                profiles.c.global_status.is_(None),
                profiles.c.global_status.not_in([int(status) for status in BLOCKING_STATUSES]),
            ).label("is_unblocked"),
        )
        .join(profiles, profiles.c.id == s.c.profile_id)
        .where(one_of(conn, s.c.profile_id, profile_ids))
        .subquery("ranked")
    )
    return select(
        ranked.c.id,
        ranked.c.is_effective,
        and_(
            ranked.c.is_effective,
            ranked.c.status.in_([int(status) for status in SENDABLE_STATUSES]),
            ranked.c.is_deliverable,
            ranked.c.is_unblocked,
        ).label("is_sendable"),
    ).subquery("flags")
