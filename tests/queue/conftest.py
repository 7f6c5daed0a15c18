from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create


@pytest.fixture
async def account_id(engine: AsyncEngine) -> int:
    return (await token_create(engine, f"acme-{uuid.uuid4().hex[:8]}")).account_id
