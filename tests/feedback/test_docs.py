"""The receiver example of docs/feedback.md, run as it is against a real delivery."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook

from tally.accounts.service import token_create
from tally.feedback.service import secret_create
from tally.feedback.signing import new_secret
from tests.conftest import free_port
from tests.feedback.support import refresh_with, wait_feedback
from tests.helpers import Api

DOC = Path(__file__).resolve().parents[2] / "docs" / "feedback.md"
MARKER = "<!-- tested: tests/feedback/test_docs.py runs this block against a real delivery -->"


def example_code() -> str:
    text = DOC.read_text()
    assert MARKER in text
    found = re.search(r"```python\n(.*?)```", text[text.index(MARKER) :], re.DOTALL)
    assert found is not None
    return found.group(1)


class Example:
    def __init__(self, secret: str, log: Path) -> None:
        self.port = free_port()
        self.secret = secret
        self.log = log
        env = {**os.environ, "TALLY_WEBHOOK_SECRET": secret, "PORT": str(self.port)}
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", example_code()], env=env, stdout=out, stderr=subprocess.STDOUT
            )

    def output(self) -> str:
        return self.log.read_text()

    async def wait_listening(self) -> None:
        for _ in range(500):
            assert self.process.poll() is None, self.output()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                await asyncio.sleep(0.02)
        raise AssertionError(f"the example does not listen:\n{self.output()}")


@pytest.fixture
def secret_name() -> str:
    return f"docs-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def example(engine: AsyncEngine, secret_name: str, tmp_path: Path) -> AsyncIterator[Example]:
    secret = await secret_create(engine, secret_name, grace=timedelta(0))
    example = Example(secret, tmp_path / "example.log")
    try:
        await example.wait_listening()
        yield example
    finally:
        example.process.terminate()
        example.process.wait(5)


async def test_the_documented_receiver_verifies_a_real_delivery(
    api: Api, engine: AsyncEngine, secret_name: str, example: Example
) -> None:
    api = Api(api.client, (await token_create(engine, secret_name)).token, 0)
    url = f"http://127.0.0.1:{example.port}/tally"
    task_id = await refresh_with(api, {"type": "JSON", "url": url})

    data = await wait_feedback(api, task_id)

    assert data["feedback"][0] | {"url": ""} == {
        "url": "",
        "type": "JSON",
        "status": "delivered",
        "attempts": 1,
        "last_error": "",
    }
    assert f"task {task_id} completed" in example.output()


async def test_the_documented_receiver_refuses_forgeries_and_ignores_repeats(example: Example) -> None:
    envelope = {"data": {"status": "completed", "task_id": "replayed"}, "error": 0, "error_text": ""}
    body = json.dumps(envelope)
    now = datetime.now(UTC)
    webhook_id = str(uuid.uuid4())
    signed = {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(example.secret).sign(webhook_id, now, body),
        "content-type": "application/json",
    }
    forged = signed | {"webhook-signature": Webhook(new_secret()).sign(webhook_id, now, body)}
    stale = signed | {"webhook-timestamp": str(int(now.timestamp()) - 600)}

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{example.port}") as client:
        answers = [
            (await client.post("/tally", content=body, headers=headers)).status_code
            for headers in ({"content-type": "application/json"}, forged, stale, signed, signed)
        ]

    assert answers == [400, 400, 400, 204, 204]
    assert example.output().count("task replayed completed") == 1
