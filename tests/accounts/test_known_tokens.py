"""Remembered tokens (accounts/known_tokens.py): one lookup per token while revocations are
heard, none remembered while they are not, and a revocation is refused at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.known_tokens import LISTENER, KnownTokens
from tally.accounts.service import token_authenticate, token_create, token_revoke
from tally.config import Settings
from tally.errors import Unauthorized
from tally.wire.auth import Principal


class CountedLookups:
    def __init__(self, during: Callable[[], None] | None = None) -> None:
        self.calls = 0
        self.during = during

    async def __call__(self, engine: AsyncEngine, token: str) -> Principal:
        self.calls += 1
        principal = await token_authenticate(engine, token)
        if self.during is not None:
            self.during()
        return principal


async def _until(condition: Callable[[], bool], within: float = 5.0) -> None:
    for _ in range(int(within / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


@pytest.fixture
async def listening(engine: AsyncEngine, settings: Settings, backend: str) -> AsyncIterator[KnownTokens]:
    if backend != "postgres":
        pytest.skip("tokens are remembered only where revocations are heard (PostgreSQL)")
    known = KnownTokens(CountedLookups())
    stop = asyncio.Event()
    listener = asyncio.create_task(known.listen(settings.database_url, stop))
    await _until(lambda: known.listening)
    yield known
    stop.set()
    await listener


async def test_a_token_is_looked_up_once_while_revocations_are_heard(
    engine: AsyncEngine, listening: KnownTokens
) -> None:
    created = await token_create(engine, f"a-{uuid.uuid4().hex[:6]}")
    for _ in range(5):
        assert (await listening.authenticate(engine, created.token)).account_id == created.account_id
    assert isinstance(listening.look_up, CountedLookups) and listening.look_up.calls == 1


async def test_a_revoked_token_is_refused_as_soon_as_the_revocation_is_heard(
    engine: AsyncEngine, listening: KnownTokens
) -> None:
    created = await token_create(engine, f"r-{uuid.uuid4().hex[:6]}")
    await listening.authenticate(engine, created.token)
    generation = listening.generation
    await token_revoke(engine, created.token)
    await _until(lambda: listening.generation > generation)
    with pytest.raises(Unauthorized):
        await listening.authenticate(engine, created.token)


async def test_a_lookup_a_revocation_overtook_is_not_remembered(engine: AsyncEngine, listening: KnownTokens) -> None:
    created = await token_create(engine, f"o-{uuid.uuid4().hex[:6]}")
    lookups = CountedLookups(during=listening.forget_all)  # a revocation heard mid-lookup
    listening.look_up = lookups
    await listening.authenticate(engine, created.token)
    await listening.authenticate(engine, created.token)
    assert lookups.calls == 2 and listening.remembered == {}


async def test_while_the_listener_is_down_every_call_looks_the_token_up(
    engine: AsyncEngine, listening: KnownTokens
) -> None:
    created = await token_create(engine, f"d-{uuid.uuid4().hex[:6]}")
    await listening.authenticate(engine, created.token)
    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name"),
            {"name": LISTENER},
        )
    await _until(lambda: not listening.listening)
    assert listening.remembered == {}
    await _until(lambda: listening.listening)  # it reconnects, and remembers again from scratch
    lookups = CountedLookups()
    listening.look_up = lookups
    await listening.authenticate(engine, created.token)
    await listening.authenticate(engine, created.token)
    assert lookups.calls == 1


async def test_without_a_listener_nothing_is_remembered(engine: AsyncEngine) -> None:
    lookups = CountedLookups()
    known = KnownTokens(lookups)
    created = await token_create(engine, f"n-{uuid.uuid4().hex[:6]}")
    for _ in range(3):
        await known.authenticate(engine, created.token)
    assert lookups.calls == 3
