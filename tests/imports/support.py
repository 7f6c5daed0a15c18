"""Helpers of the import tests: a catalog to import into, the command, and what got stored."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.catalog.channels import CHANNEL_NAMES
from tally.catalog.service import database_add, resource_add
from tally.cli.main import cli
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import import_checkpoints, profiles, subscriptions

CSV_HEADER = "email,phone,_fname,_status,email_status,sms_status,push_status,push_provider,push_subscription_id"


@dataclass(frozen=True)
class Target:
    account_id: int
    database_id: int
    resource_id: int
    #: An API token of the account.
    token: str


async def make_target(engine: AsyncEngine, channels: tuple[str, ...] = ("email", "sms", "push")) -> Target:
    created = await token_create(engine, f"import-{uuid.uuid4().hex[:8]}")
    async with write_transaction(engine) as conn:
        database_id = await database_add(conn, created.account_id, "Imported", "")
        resource_id = await resource_add(conn, created.account_id, "News", list(channels), [database_id])
    return Target(created.account_id, database_id, resource_id, created.token)


def invoke(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["import", *args, "--database-url", database_url], prog_name="tally")


async def tally_import(database_url: str, *args: str | Path) -> Result:
    """``tally import ARGS`` in-process (in a thread: the test's event loop keeps running)."""
    return await asyncio.to_thread(invoke, database_url, *map(str, args))


def rejects_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def stored_profiles(engine: AsyncEngine, database_id: int) -> dict[str, dict[str, Any]]:
    """The live profiles of a database by email: their columns and subscriptions."""
    async with read_transaction(engine) as conn:
        rows = (
            await conn.execute(
                select(profiles).where(profiles.c.database_id == database_id, profiles.c.is_deleted.is_(False))
            )
        ).all()
        subs = (await conn.execute(select(subscriptions).where(subscriptions.c.database_id == database_id))).all()
    by_profile: dict[int, list[dict[str, Any]]] = {}
    for sub in subs:
        by_profile.setdefault(sub.profile_id, []).append(
            {"channel": CHANNEL_NAMES[sub.channel], "status": sub.status, **sub.address}
        )
    found = {}
    for row in rows:
        found[row.email] = {
            "phones": row.phones,
            "fields": row.fields,
            "global_status": row.global_status,
            "subscriptions": sorted(by_profile.get(row.id, []), key=lambda sub: sub["channel"]),
        }
    return found


async def profile_count(engine: AsyncEngine, database_id: int) -> int:
    async with read_transaction(engine) as conn:
        statement = select(func.count()).select_from(profiles).where(profiles.c.database_id == database_id)
        return int(await conn.scalar(statement) or 0)


async def checkpoint_row(engine: AsyncEngine, database_id: int, path: Path | None = None) -> Any:
    """The checkpoint of the import of ``path`` (or of the only one) into a database."""
    async with read_transaction(engine) as conn:
        statement = select(import_checkpoints).where(import_checkpoints.c.database_id == database_id)
        if path is not None:
            statement = statement.where(import_checkpoints.c.file_name == str(path))
        return (await conn.execute(statement)).first()
