"""Property test: on random data and random changes, every counter equals a reference count.

The reference (tests/counters/model.py) is computed from the test's own model of what it
sent, never from the database. The app counts in chunks of 3, so that a handful of
profiles already crosses chunk boundaries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tests.counters.model import Op, ProfileSpec, ops, profile_specs
from tests.counters.scenario import Scenario
from tests.counters.support import api_with_chunk_size
from tests.helpers import Api


@pytest.fixture
async def chunked_api(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Api]:
    async with api_with_chunk_size(engine, settings, 3) as api:
        yield api


@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(profile_specs, min_size=2, max_size=8),
    changes=st.lists(ops(), min_size=4, max_size=16),
)
async def test_refresh_random_data_and_changes_equals_reference(
    chunked_api: Api, specs: list[ProfileSpec], changes: list[Op]
) -> None:
    scenario = Scenario(chunked_api)
    await scenario.setup()
    await scenario.add_profiles(specs)
    await scenario.check()
    for op in changes:
        await scenario.apply(op)
    await scenario.check()
    await scenario.check_effective_flags()
