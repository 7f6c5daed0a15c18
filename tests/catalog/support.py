"""Helpers of the catalog tests: profiles with subscriptions, an app without a worker, rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.store.engine import read_transaction
from tests.helpers import Api, make_app


async def add_profile(api: Api, database_id: int, resource_id: int, n: int, channels: tuple[str, ...]) -> str:
    """A profile with one phone and a subscription to the resource on each of ``channels``."""
    addresses = {"email": {"email": f"p{n}@example.org"}, "sms": {"phone": f"+7900{n:07d}"}}
    data = {
        "email": f"p{n}@example.org",
        "phones": [f"+7900{n:07d}"],
        "subscriptions": [{"resource_id": resource_id, "channel": c, **addresses[c]} for c in channels],
    }
    profile_id: str = (await api.ok("profiles/add", {"db_id": database_id, "data": data}))["profile_id"]
    return profile_id


@asynccontextmanager
async def idle_api(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Api]:
    """An API on an app without a worker: a task queued stays queued."""
    async with make_app(settings, embedded_worker=False) as client:
        yield await Api.for_new_account(client, engine)


async def count_rows(engine: AsyncEngine, table: Table, **where: Any) -> int:
    """Rows of ``table`` whose columns equal the values given (or IN them, for a list)."""
    conditions = [
        table.c[key].in_(value) if isinstance(value, list) else table.c[key] == value for key, value in where.items()
    ]
    async with read_transaction(engine) as conn:
        return int(await conn.scalar(select(func.count()).select_from(table).where(*conditions)) or 0)
