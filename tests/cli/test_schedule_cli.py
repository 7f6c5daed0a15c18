"""``tally schedule add|list|pause|resume|delete``, on the same services as schedules/*."""

from __future__ import annotations

import asyncio
import re

from click.testing import CliRunner, Result
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.catalog.service import database_add, resource_add
from tally.cli.main import cli
from tally.config import Settings
from tally.store.engine import write_transaction
from tests.processes import sync_url


async def _tally(settings: Settings, *args: str) -> Result:
    argv = [*args, "--database-url", sync_url(settings.database_url)]
    return await asyncio.to_thread(CliRunner().invoke, cli, argv, env={"TALLY_DATABASE_URL": None}, prog_name="tally")


async def _pair(engine: AsyncEngine, account: str) -> tuple[int, int]:
    created = await token_create(engine, account)
    async with write_transaction(engine) as conn:
        database_id = await database_add(conn, created.account_id, "Customers", "")
        resource_id = await resource_add(conn, created.account_id, "News", ["email"], [database_id])
    return database_id, resource_id


async def test_schedule_commands_add_list_pause_resume_and_delete(engine: AsyncEngine, settings: Settings) -> None:
    database_id, resource_id = await _pair(engine, "acme")
    added = await _tally(
        settings, "schedule", "add", "--account", "acme", "--database", str(database_id),
        "--resource", str(resource_id), "--cron", "0 6 * * 1-5", "--timezone", "Europe/Berlin",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    match = re.fullmatch(
        rf"(\d+)  database {database_id}, resource {resource_id}: '0 6 \* \* 1-5' Europe/Berlin, next \S+Z\n",
        added.stdout,
    )
    assert match, added.stdout
    schedule_id = match.group(1)

    listed = await _tally(settings, "schedule", "list", "--account", "acme")
    assert listed.stdout == added.stdout
    paused = await _tally(settings, "schedule", "pause", schedule_id, "--account", "acme")
    assert paused.exit_code == 0 and paused.stdout.rstrip().endswith("Europe/Berlin, paused"), paused.output
    resumed = await _tally(settings, "schedule", "resume", schedule_id, "--account", "acme")
    assert resumed.exit_code == 0 and ", next " in resumed.stdout, resumed.output
    deleted = await _tally(settings, "schedule", "delete", schedule_id, "--account", "acme")
    assert deleted.exit_code == 0 and f"Deleted schedule {schedule_id}." in deleted.stderr
    empty = await _tally(settings, "schedule", "list", "--account", "acme")
    assert (empty.stdout, "No schedules in account 'acme'." in empty.stderr) == ("", True)


async def test_schedule_commands_say_what_is_wrong(engine: AsyncEngine, settings: Settings) -> None:
    database_id, resource_id = await _pair(engine, "acme")
    await _pair(engine, "other")
    pair = ["--database", str(database_id), "--resource", str(resource_id)]
    bad_cron = await _tally(settings, "schedule", "add", "--account", "acme", *pair, "--cron", "every day")
    assert bad_cron.exit_code == 2 and "cron expression of 5 fields" in bad_cron.output, bad_cron.output
    bad_zone = await _tally(
        settings, "schedule", "add", "--account", "acme", *pair, "--cron", "0 6 * * *", "--timezone", "Moon"
    )
    assert bad_zone.exit_code == 2 and "IANA time zone" in bad_zone.output, bad_zone.output
    nobody = await _tally(settings, "schedule", "list", "--account", "nobody")
    assert nobody.exit_code == 1 and "Account not found: 'nobody'" in nobody.output, nobody.output
    foreign = await _tally(settings, "schedule", "add", "--account", "other", *pair, "--cron", "0 6 * * *")
    assert foreign.exit_code == 1 and f"Database not found: {database_id}" in foreign.output, foreign.output
    added = await _tally(settings, "schedule", "add", "--account", "acme", *pair, "--cron", "0 6 * * *")
    schedule_id = added.stdout.split()[0]
    for command in ("pause", "resume", "delete"):
        refused = await _tally(settings, "schedule", command, schedule_id, "--account", "other")
        assert refused.exit_code == 1 and f"Schedule not found: {schedule_id}" in refused.output, refused.output
