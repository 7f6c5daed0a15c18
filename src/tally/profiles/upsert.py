"""Imports: add or update profiles found by their matching key, a batch at a time.

profiles/import, profiles/update, profiles/import_batch and ``tally import`` write through
``profiles_import``: the batch's stored profiles are loaded once and locked, merge.py applies
the items to them in order, and ``_write_plan`` writes the result with one statement per
table (new profiles through service.insert_new, updates by executemany), then recomputes the
flags of the stored profiles whose subscriptions or ``_status`` changed, in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tally.catalog.channels import CHANNEL_NAMES, is_deliverable
from tally.errors import TallyError
from tally.profiles import queries
from tally.profiles.input import ImportInput, Matching, ProfileInput, ProfileNotFound
from tally.profiles.keys import email_key
from tally.profiles.merge import Plan, ProfileState, StoredSubscription, normal_key
from tally.profiles.service import LinkedResources, insert_new, linked_resources
from tally.profiles.statuses import Status
from tally.store.types import utcnow


@dataclass(frozen=True)
class Imported:
    """An imported item's profile, and whether this item created it."""

    profile_id: int
    created: bool


async def profiles_import(
    conn: AsyncConnection,
    account_id: int,
    database_id: int,
    matching: Matching,
    items: Sequence[ImportInput | TallyError],
    *,
    create: bool = True,
) -> list[Imported | TallyError]:
    """Add or update profiles found by their key; each item succeeds or fails alone.

    Items apply in order (merge.py); then one statement per table writes the batch, and the
    flags of the stored profiles it changed are recomputed. With ``create`` False (or when
    matching by profile id, whose ids only Tally gives) an unmatched item is a 404.
    """
    linked = await linked_resources(conn, account_id, database_id)
    checked = [item if isinstance(item, TallyError) else _checked_import(linked, item) for item in items]
    keys = sorted({normal_key(matching, item.key) for item in checked if isinstance(item, ImportInput)})
    plan = Plan(matching, await _stored_states(conn, account_id, database_id, matching, keys))
    placed: list[tuple[ProfileState, bool] | TallyError] = []
    for item in checked:
        if isinstance(item, TallyError):
            placed.append(item)
            continue
        state = plan.find(item.key)
        if state is not None:
            plan.update(state, item.profile)
            placed.append((state, False))
        elif create and matching != "profile_id":
            placed.append((plan.add(item), True))
        else:
            placed.append(ProfileNotFound(f"Profile not found: {item.key}"))
    await _write_plan(conn, account_id, database_id, plan)
    return [
        outcome if isinstance(outcome, TallyError) else Imported(_id_of(outcome[0]), outcome[1]) for outcome in placed
    ]


def _checked_import(linked: LinkedResources, item: ImportInput) -> ImportInput | TallyError:
    try:
        linked.check_profile(item.profile)
    except TallyError as error:
        return error
    return item


def _id_of(state: ProfileState) -> int:
    assert state.id is not None, "every profile of a written plan has its id"
    return state.id


async def _stored_states(
    conn: AsyncConnection, account_id: int, database_id: int, matching: Matching, keys: list[str]
) -> list[ProfileState]:
    """The stored profiles that have one of ``keys``, locked, with all their subscriptions."""
    if not keys:
        return []
    rows = await queries.profiles_by_key(conn, account_id, database_id, matching, keys, lock=True)
    if not rows:
        return []
    states = {
        row.id: ProfileState(
            id=row.id,
            email=row.email,
            phones=list(row.phones),
            global_status=row.global_status,
            fields=dict(row.fields),
        )
        for row in rows
    }
    identities: list[tuple[Any, ...]] = [
        tuple(row) for row in await queries.subscription_identities(conn, list(states))
    ]
    for sub_id, profile_id, resource_id, channel, key, status, priority, is_deleted, change_seq in identities:
        state = states[profile_id]
        state.subscriptions[(resource_id, channel, key)] = StoredSubscription(
            sub_id, resource_id, channel, None, key, status, priority, is_deleted, change_seq
        )
        group = (resource_id, channel)
        state.moments[group] = max(state.moments.get(group, 0), change_seq)
    return list(states.values())


async def _write_plan(conn: AsyncConnection, account_id: int, database_id: int, plan: Plan) -> None:
    now = utcnow()
    created = [state for state in plan.profiles if state.id is None]
    stored = [state for state in plan.profiles if state.id is not None]
    if created:
        ids = await insert_new(conn, account_id, database_id, [_as_new_profile(state) for state in created])
        for state, profile_id in zip(created, ids, strict=True):
            state.id = profile_id
    changed = [_profile_values(state, now) for state in stored if state.changed]
    if changed:
        await queries.profiles_update(conn, changed)
    rephoned = [_profile_values(state, now) | {"database_id": database_id} for state in stored if state.phones_changed]
    if rephoned:
        await queries.profile_phones_replace(conn, rephoned)
    new_rows, changed_rows = [], []
    for state in stored:
        for subscription in state.subscriptions.values():
            if not subscription.changed:
                continue
            if subscription.id is None:
                new_rows.append(_new_subscription(state, database_id, subscription, now))
            else:
                changed_rows.append(
                    {
                        "id": subscription.id,
                        "status": subscription.status,
                        "priority": subscription.priority,
                        "is_deleted": subscription.is_deleted,
                        "change_seq": subscription.change_seq,
                        "updated_at": now,
                    }
                )
    if new_rows:
        await queries.subscriptions_insert(conn, new_rows)
    if changed_rows:
        await queries.subscriptions_update(conn, changed_rows)
    stale = [_id_of(state) for state in stored if state.flags_stale]
    if stale:
        await queries.subscriptions_recompute_flags(conn, stale)


def _as_new_profile(state: ProfileState) -> ProfileInput:
    return ProfileInput(
        email=state.email,
        phones=state.phones,
        global_status=None if state.global_status is None else Status(state.global_status),
        fields=state.fields,
        subscriptions=state.written,
    )


def _profile_values(state: ProfileState, now: Any) -> dict[str, Any]:
    return {
        "id": state.id,
        "email": state.email,
        "email_key": email_key(state.email),
        "phones": state.phones,
        "fields": state.fields,
        "global_status": state.global_status,
        "updated_at": now,
    }


def _new_subscription(
    state: ProfileState, database_id: int, subscription: StoredSubscription, now: Any
) -> dict[str, Any]:
    """A new subscription of a stored profile; its flags come from the recompute after it."""
    assert subscription.address is not None, "the plan knows the address of what it adds"
    return {
        "profile_id": state.id,
        "database_id": database_id,
        "resource_id": subscription.resource_id,
        "channel": subscription.channel,
        "address": subscription.address,
        "address_key": subscription.address_key,
        "status": subscription.status,
        "priority": subscription.priority,
        "is_deleted": False,
        "change_seq": subscription.change_seq,
        "is_deliverable": is_deliverable(CHANNEL_NAMES[subscription.channel], subscription.address),
        "is_effective": False,
        "is_sendable": False,
        "updated_at": now,
    }
