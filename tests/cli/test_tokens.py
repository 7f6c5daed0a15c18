"""Token scopes and bookkeeping: read-only tokens get 403 on writes; `tally token list`
shows prefixes, scope and last use, never a token; `tally token revoke --id`."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from click.testing import CliRunner, Result
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import SHOWN_PREFIX, token_authenticate, token_create
from tally.app import METHODS
from tally.cli.main import cli
from tally.config import Settings
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import api_tokens
from tally.store.types import utcnow
from tests.dashboard.support import sign_in
from tests.helpers import Api
from tests.processes import sync_url

#: The methods a read-only token may call: they change no stored data (a refresh counts
#: what is stored and keeps the count; it is the question the token is for).
READS = {
    "databases/get",
    "databases/list",
    "resources/get",
    "resources/list",
    "databases/get_counters",
    "databases/counters_history",
    "databases/counters_diff",
    "databases/refresh_counters",
    "resources/refresh_counters",
    "profiles/get",
    "profiles/list",
    "subscriptions/list",
    "schedules/list",
    "schedules/get",
    "tasks/status",
}


async def _tally(settings: Settings, *args: str) -> Result:
    argv = [*args, "--database-url", sync_url(settings.database_url)]
    return await asyncio.to_thread(CliRunner().invoke, cli, argv, env={"TALLY_DATABASE_URL": None}, prog_name="tally")


def test_every_method_is_marked_a_read_or_a_write() -> None:
    """A method nobody marked counts as a write; this list changes only on purpose."""
    assert {method.path for method in METHODS if not method.writes} == READS


async def test_a_read_only_token_reads_and_refreshes_but_gets_403_on_writes(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog()
    reader = Api(api.client, (await token_create(engine, "reader", read_only=True)).token, 0)
    reader.account_id = (await token_authenticate(engine, reader.token)).account_id
    own = await reader.ok("databases/list", {})
    assert own == []  # its own account's, which is empty
    # The full token's account is another's: the reader's token is scoped to "reader".
    for method, body in [
        ("databases/add", {"name": "x"}),
        ("profiles/add", {"db_id": database_id, "data": {"email": "a@example.org"}}),
        ("schedules/add", {"db_id": database_id, "resource_id": resource_id, "cron": "0 6 * * *"}),
        ("databases/delete", {"id": "not even a number"}),  # 403 before the parameters are read
    ]:
        response = await reader.raw(method, body)
        envelope = response.json()
        assert response.status_code == 403 and envelope["error"] == 403, (method, envelope)
        assert envelope["error_text"] == f"Forbidden: {method} writes, and this token is read-only"
    assert await reader.ok("databases/list", {}) == []  # nothing was added


async def test_a_read_only_token_of_an_account_refreshes_its_counters(engine: AsyncEngine, api: Api) -> None:
    created = await token_create(engine, "shared")
    full = Api(api.client, created.token, created.account_id)
    database_id, resource_id = await full.setup_catalog()
    reader = Api(api.client, (await token_create(engine, "shared", read_only=True)).token, created.account_id)
    task = await reader.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})
    assert (await reader.wait_task(task["task_id"]))["status"] == "completed"
    assert (await reader.raw("resources/delete", {"id": resource_id})).status_code == 403
    assert (await full.ok("resources/get", {"id": resource_id}))["id"] == resource_id
    # In the dashboard the same token may refresh, but not change schedules.
    browser = await sign_in(reader)
    assert (await browser.post(f"/databases/{database_id}/resources/{resource_id}/refresh")).status_code == 303
    refused = await browser.post("/schedules", {"pair": f"{database_id}:{resource_id}", "cron": "0 6 * * *"})
    assert refused.status_code == 403 and "read-only token" in refused.text
    assert await full.ok("schedules/list", {}) == []


async def test_last_use_is_written_at_most_once_a_minute(api: Api, engine: AsyncEngine) -> None:
    async def last_used() -> object:
        async with read_transaction(engine) as conn:
            return await conn.scalar(select(api_tokens.c.last_used_at).where(api_tokens.c.account_id == api.account_id))

    assert await last_used() is None
    await api.ok("databases/list", {})
    first = await last_used()
    assert first is not None
    await api.ok("databases/list", {})
    assert await last_used() == first  # within the minute: not written again
    async with write_transaction(engine) as conn:
        stale = utcnow() - timedelta(minutes=2)
        await conn.execute(
            update(api_tokens).where(api_tokens.c.account_id == api.account_id).values(last_used_at=stale)
        )
    # A lookup writes it (an API process may remember the token up to 30 s: known_tokens.py).
    await token_authenticate(engine, api.token)
    assert await last_used() != stale


async def test_token_list_shows_prefix_scope_and_use_but_never_a_token(engine: AsyncEngine, settings: Settings) -> None:
    full = await _tally(settings, "token", "create", "--account", "acme")
    reader = await _tally(settings, "token", "create", "--account", "acme", "--read-only")
    other = await _tally(settings, "token", "create", "--account", "other")
    assert full.exit_code == reader.exit_code == other.exit_code == 0, full.output
    full_token, reader_token = full.stdout.strip().splitlines()[-1], reader.stdout.strip().splitlines()[-1]
    await token_authenticate(engine, full_token)  # a use
    listed = await _tally(settings, "token", "list", "--account", "acme")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["id", "prefix", "account", "scope"]
    assert len(lines) == 3  # acme's two, not other's
    assert f"{full_token[:SHOWN_PREFIX]}..." in lines[1] and " full " in lines[1] and lines[1].endswith("active")
    assert f"{reader_token[:SHOWN_PREFIX]}..." in lines[2] and " read-only " in lines[2]
    assert "never" not in lines[1].split("full")[1]  # its last use is shown
    assert full_token not in listed.output and reader_token not in listed.output
    token_id = lines[2].split()[0]
    revoked = await _tally(settings, "token", "revoke", "--id", token_id)
    assert revoked.exit_code == 0 and f"Revoked token {token_id} of account 'acme'" in revoked.output
    after = (await _tally(settings, "token", "list")).stdout
    assert "revoked" in after and len(after.strip().splitlines()) == 4
    neither = await _tally(settings, "token", "revoke")
    assert neither.exit_code == 2 and "give either TOKEN or --id N" in neither.output
    missing = await _tally(settings, "token", "revoke", "--id", "999999")
    assert missing.exit_code == 1 and "No token 999999; nothing was revoked" in missing.output
