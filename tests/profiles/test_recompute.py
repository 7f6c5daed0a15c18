"""One set of rules: the Python rules (effective.py), the add fast path and the SQL recompute agree.

Every property compares the stored flags with the pure rules applied to the stored rows,
on random data: after profiles_add (whose rows are computed in Python), after random
sequences of subscription_set, subscription_delete and profile_delete (which recompute in
SQL), and after scrambling the flags and recomputing them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.catalog.service import database_add, resource_add
from tally.errors import NotFound
from tally.profiles import queries, service
from tally.profiles.effective import Candidate, is_blocked, is_sendable, pick_effective
from tally.profiles.input import ProfileInput, SubscriptionInput
from tally.profiles.statuses import Status
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import profiles, subscriptions

CHANNELS = ["email", "sms"]
#: Two addresses per channel, one deliverable and one not, so that rewrites are frequent.
ADDRESSES = {
    "email": [{"email": "ann@example.org"}, {"email": "not an address"}],
    "sms": [{"phone": "+79001234567"}, {"phone": "8900"}],
}
PROPERTY = hypothesis_settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Setup:
    account_id: int
    database_id: int
    resource_ids: tuple[int, int]


async def setup(engine: AsyncEngine) -> Setup:
    created = await token_create(engine, f"recompute-{uuid.uuid4().hex[:8]}")
    async with write_transaction(engine) as conn:
        database_id = await database_add(conn, created.account_id, "db", "")
        first, second = [
            await resource_add(conn, created.account_id, name, CHANNELS, [database_id]) for name in ("a", "b")
        ]
    return Setup(created.account_id, database_id, (first, second))


@st.composite
def subscription_specs(draw: st.DrawFn) -> tuple[int, str, int, Status, int]:
    """(resource index, channel, address index, status, priority): few of each, so ties abound."""
    channel = draw(st.sampled_from(CHANNELS))
    return (
        draw(st.integers(0, 1)),
        channel,
        draw(st.integers(0, 1)),
        draw(st.sampled_from(list(Status))),
        draw(st.integers(0, 2)),
    )


def subscription_input(env: Setup, spec: tuple[int, str, int, Status, int]) -> SubscriptionInput:
    resource, channel, address, status, priority = spec
    return SubscriptionInput(env.resource_ids[resource], channel, ADDRESSES[channel][address], status, priority)


profile_specs = st.tuples(st.none() | st.sampled_from(list(Status)), st.lists(subscription_specs(), max_size=8))


def profile_input(env: Setup, spec: tuple[Status | None, list[Any]]) -> ProfileInput:
    global_status, subs = spec
    return ProfileInput(None, [], global_status, {}, [subscription_input(env, sub) for sub in subs])


async def stored_flags(engine: AsyncEngine, database_id: int) -> dict[int, tuple[bool, bool]]:
    async with read_transaction(engine) as conn:
        rows = await conn.execute(
            select(subscriptions.c.id, subscriptions.c.is_effective, subscriptions.c.is_sendable).where(
                subscriptions.c.database_id == database_id
            )
        )
        return {row.id: (bool(row.is_effective), bool(row.is_sendable)) for row in rows}


async def flags_by_the_rules(engine: AsyncEngine, database_id: int) -> dict[int, tuple[bool, bool]]:
    """The flags effective.py gives every stored subscription of the database."""
    async with read_transaction(engine) as conn:
        owners = {
            row.id: row for row in await conn.execute(select(profiles).where(profiles.c.database_id == database_id))
        }
        rows = (await conn.execute(select(subscriptions).where(subscriptions.c.database_id == database_id))).all()
    groups: dict[tuple[int, int, int], list[Candidate]] = {}
    for row in rows:
        candidate = Candidate(row.id, row.priority, row.change_seq, row.is_deleted)
        groups.setdefault((row.profile_id, row.resource_id, row.channel), []).append(candidate)
    picks = {pick.id for group in groups.values() if (pick := pick_effective(group)) is not None}
    expected = {}
    for row in rows:
        owner = owners[row.profile_id]
        effective = row.id in picks and not owner.is_deleted
        sendable = is_sendable(
            is_effective=effective,
            status=row.status,
            is_deliverable=row.is_deliverable,
            profile_blocked=is_blocked(owner.global_status),
        )
        expected[row.id] = (effective, sendable)
    return expected


async def recompute(engine: AsyncEngine, profile_ids: list[int]) -> None:
    async with write_transaction(engine) as conn:
        # A chunk of 2 profiles, so that several statements cover the set.
        await queries.subscriptions_recompute_flags(conn, profile_ids, chunk=2)


@PROPERTY
@given(specs=st.lists(profile_specs, min_size=1, max_size=6))
async def test_profiles_add_rows_follow_the_rules_and_recompute_changes_nothing(
    engine: AsyncEngine, specs: list[tuple[Status | None, list[Any]]]
) -> None:
    env = await setup(engine)
    async with write_transaction(engine) as conn:
        ids = await service.profiles_add(conn, env.account_id, env.database_id, [profile_input(env, s) for s in specs])
    added = await stored_flags(engine, env.database_id)
    assert added == await flags_by_the_rules(engine, env.database_id)
    await recompute(engine, ids)
    assert await stored_flags(engine, env.database_id) == added


@PROPERTY
@given(
    specs=st.lists(profile_specs, min_size=1, max_size=4),
    ops=st.lists(st.tuples(st.sampled_from(["set", "set", "delete", "delete_profile"]), st.integers(0, 3),
                           subscription_specs()), max_size=12),
)  # fmt: skip
async def test_subscription_writes_keep_flags_by_the_rules(
    engine: AsyncEngine,
    specs: list[tuple[Status | None, list[Any]]],
    ops: list[tuple[str, int, tuple[int, str, int, Status, int]]],
) -> None:
    env = await setup(engine)
    async with write_transaction(engine) as conn:
        ids = await service.profiles_add(conn, env.account_id, env.database_id, [profile_input(env, s) for s in specs])
    for kind, target, spec in ops:
        profile_id = ids[target % len(ids)]
        try:
            async with write_transaction(engine) as conn:
                if kind == "set":
                    sub = subscription_input(env, spec)
                    await service.subscription_set(conn, env.account_id, env.database_id, profile_id, sub)
                elif kind == "delete":
                    sub = subscription_input(env, spec)
                    await service.subscription_delete(conn, env.account_id, env.database_id, profile_id, sub)
                else:
                    await service.profile_delete(conn, env.account_id, profile_id)
        except NotFound:
            pass  # a subscription or profile that is not there (any more)
        assert await stored_flags(engine, env.database_id) == await flags_by_the_rules(engine, env.database_id)


@PROPERTY
@given(specs=st.lists(profile_specs, min_size=1, max_size=6), scramble=st.lists(st.booleans(), min_size=4))
async def test_recompute_scrambled_flags_are_restored_by_the_rules(
    engine: AsyncEngine, specs: list[tuple[Status | None, list[Any]]], scramble: list[bool]
) -> None:
    env = await setup(engine)
    async with write_transaction(engine) as conn:
        ids = await service.profiles_add(conn, env.account_id, env.database_id, [profile_input(env, s) for s in specs])
        # Some profiles deleted and some blocked behind the fast path's back, then flags scrambled.
        await conn.execute(update(profiles).where(profiles.c.id == ids[0]).values(is_deleted=scramble[0]))
        await conn.execute(update(profiles).where(profiles.c.id == ids[-1]).values(global_status=int(Status.INVALID)))
        await conn.execute(
            update(subscriptions)
            .where(subscriptions.c.database_id == env.database_id)
            .values(is_effective=scramble[1], is_sendable=scramble[2])
        )
    await recompute(engine, ids)
    assert await stored_flags(engine, env.database_id) == await flags_by_the_rules(engine, env.database_id)
