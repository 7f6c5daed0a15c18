"""``tally token revoke``: a revoked token gets 401 at once; the token is never printed."""

from __future__ import annotations

import asyncio
import logging

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.cli.main import cli
from tally.config import Settings
from tally.store.tables import api_tokens
from tests.helpers import make_app
from tests.processes import sync_url


async def _tally(settings: Settings, *args: str, stdin: str | None = None) -> Result:
    """Run ``tally ARGS`` on the test's database (in a thread: it runs its own event loop)."""
    argv = [*args, "--database-url", sync_url(settings.database_url)]
    env = {"TALLY_DATABASE_URL": None}
    return await asyncio.to_thread(CliRunner().invoke, cli, argv, input=stdin, env=env, prog_name="tally")


async def _list_databases(settings: Settings, token: str) -> tuple[int, str]:
    async with make_app(settings, embedded_worker=False) as client:
        response = await client.post("/api/v1.1/databases/list", json={"token": token})
    return response.status_code, response.json()["error_text"]


async def test_revoked_token_gets_401(
    engine: AsyncEngine, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = (await token_create(engine, "acme")).token
    other = (await token_create(engine, "acme")).token
    assert (await _list_databases(settings, token))[0] == 200

    result = await _tally(settings, "token", "revoke", token)

    assert result.exit_code == 0, result.output
    assert "acme" in result.stderr
    assert token not in result.output
    assert await _list_databases(settings, token) == (401, "Invalid token: unknown or revoked")
    assert (await _list_databases(settings, other))[0] == 200, "only the token given is revoked"
    assert not [record for record in caplog.records if token in record.getMessage()]


async def test_revoke_reads_the_token_from_stdin(engine: AsyncEngine, settings: Settings) -> None:
    token = (await token_create(engine, "acme")).token

    result = await _tally(settings, "token", "revoke", "-", stdin=token + "\n")

    assert result.exit_code == 0, result.output
    assert token not in result.output
    assert (await _list_databases(settings, token))[0] == 401


async def test_revoking_twice_says_it_was_already_revoked(engine: AsyncEngine, settings: Settings) -> None:
    token = (await token_create(engine, "acme")).token
    await _tally(settings, "token", "revoke", token)
    async with engine.connect() as conn:
        revoked_at = await conn.scalar(select(api_tokens.c.revoked_at))

    again = await _tally(settings, "token", "revoke", token)

    assert again.exit_code == 0, again.output
    assert "already revoked" in again.stderr
    async with engine.connect() as conn:
        assert await conn.scalar(select(api_tokens.c.revoked_at)) == revoked_at


async def test_revoking_an_unknown_token_is_an_error(engine: AsyncEngine, settings: Settings) -> None:
    await token_create(engine, "acme")
    unknown = "tly_" + "x" * 43

    result = await _tally(settings, "token", "revoke", unknown)

    assert result.exit_code == 1
    assert "Unknown token: no token has this value" in result.stderr
    assert unknown not in result.output
    async with engine.connect() as conn:
        assert (await conn.execute(select(api_tokens.c.revoked_at))).scalars().all() == [None]
