"""``tally secret create|rotate``: what each does to the signatures of the next deliveries."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tally.accounts.service import token_create
from tally.cli.main import cli
from tally.config import Settings
from tally.store.tables import accounts, signing_secrets
from tests.feedback.receiver import Received, Receiver
from tests.feedback.support import refresh_with, wait_feedback
from tests.helpers import Api
from tests.processes import sync_url

GRACE_SECONDS = 1.5


async def tally_secret(command: str, account: str, settings: Settings) -> str:
    """Run ``tally secret COMMAND`` (in a thread: it runs its own event loop); the new secret."""
    env = {"TALLY_SECRET_GRACE_HOURS": str(GRACE_SECONDS / 3600), "TALLY_DATABASE_URL": None}
    args = ["secret", command, "--account", account, "--database-url", sync_url(settings.database_url)]
    result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=env, prog_name="tally")
    assert result.exit_code == 0, result.output
    secret = result.stdout.splitlines()[-1]
    assert secret.startswith("whsec_")
    return secret


async def deliver(api: Api, receiver: Receiver, catalog: tuple[int, int]) -> Received:
    task_id = await refresh_with(api, {"type": "JSON", "url": receiver.url()}, catalog=catalog)
    data = await wait_feedback(api, task_id)
    assert data["feedback"][0]["status"] == "delivered"
    return receiver.requests[-1]


def signatures(request: Received) -> list[str]:
    return request.headers["webhook-signature"].split(" ")


def verifies(secret: str, request: Received, signature: str | None = None) -> bool:
    headers = dict(request.headers)
    if signature is not None:
        headers["webhook-signature"] = signature
    try:
        Webhook(secret).verify(request.body, headers)
    except WebhookVerificationError:
        return False
    return True


async def test_create_then_rotate_then_grace_over(
    api: Api, engine: AsyncEngine, settings: Settings, receiver: Receiver
) -> None:
    account = f"rotating-{uuid.uuid4().hex[:8]}"
    api = Api(api.client, (await token_create(engine, account)).token, 0)
    catalog = await api.setup_catalog()

    unsigned = await deliver(api, receiver, catalog)
    assert "webhook-signature" not in unsigned.headers

    old = await tally_secret("create", account, settings)
    signed = await deliver(api, receiver, catalog)
    assert len(signatures(signed)) == 1
    assert verifies(old, signed)

    new = await tally_secret("rotate", account, settings)
    rotated_at = time.monotonic()
    during = await deliver(api, receiver, catalog)
    assert time.monotonic() - rotated_at < GRACE_SECONDS, "too slow to test the grace period"
    # Two signatures, newest first, each made with its own secret.
    first, second = signatures(during)
    assert verifies(new, during, first) and not verifies(old, during, first)
    assert verifies(old, during, second) and not verifies(new, during, second)
    assert verifies(new, during) and verifies(old, during)

    await asyncio.sleep(max(GRACE_SECONDS - (time.monotonic() - rotated_at), 0) + 0.1)
    after = await deliver(api, receiver, catalog)
    assert len(signatures(after)) == 1
    assert verifies(new, after)
    assert not verifies(old, after)


async def test_create_replaces_every_previous_secret_at_once(
    api: Api, engine: AsyncEngine, settings: Settings, receiver: Receiver
) -> None:
    account = f"replacing-{uuid.uuid4().hex[:8]}"
    api = Api(api.client, (await token_create(engine, account)).token, 0)
    catalog = await api.setup_catalog()
    first = await tally_secret("create", account, settings)
    second = await tally_secret("rotate", account, settings)

    third = await tally_secret("create", account, settings)
    request = await deliver(api, receiver, catalog)

    assert len(signatures(request)) == 1
    assert verifies(third, request)
    assert not verifies(first, request) and not verifies(second, request)


def test_secrets_are_standard_webhooks_secrets() -> None:
    from tally.feedback.signing import new_secret

    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret) == len("whsec_") + 44
    assert new_secret() != secret
    Webhook(secret)  # the library takes it as it is


@pytest.mark.parametrize("command", ["create", "rotate"])
def test_secret_commands_have_help(command: str) -> None:
    result = CliRunner().invoke(cli, ["secret", command, "--help"], prog_name="tally")
    assert result.exit_code == 0
    assert "--account" in result.stdout


async def _accounts(engine: AsyncEngine) -> list[tuple[int, str]]:
    async with engine.connect() as conn:
        return [(row.id, row.name) for row in await conn.execute(select(accounts).order_by(accounts.c.id))]


async def test_rotate_for_an_unknown_account_fails_and_creates_nothing(engine: AsyncEngine, settings: Settings) -> None:
    await token_create(engine, "acme")
    before = await _accounts(engine)
    args = ["secret", "rotate", "--account", "acme-typo", "--database-url", sync_url(settings.database_url)]

    result = await asyncio.to_thread(CliRunner().invoke, cli, args, env={"TALLY_DATABASE_URL": None})

    assert result.exit_code == 1, result.output
    assert "Account not found: 'acme-typo'" in result.stderr
    assert result.stdout == ""
    assert await _accounts(engine) == before
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(signing_secrets)) == 0


async def test_create_makes_the_account_as_token_create_does(engine: AsyncEngine, settings: Settings) -> None:
    await tally_secret("create", "newcomer", settings)
    assert [name for _, name in await _accounts(engine)] == ["newcomer"]
    await tally_secret("rotate", "newcomer", settings)
