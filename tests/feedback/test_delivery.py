"""What arrives: the tasks/status envelope of the finished task, signed, with its headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tally.accounts.service import token_create
from tally.config import Settings
from tally.feedback import runner
from tally.feedback.queries import delivery_register
from tally.feedback.routes import CAPABILITY as FEEDBACK
from tally.feedback.service import secret_create
from tally.queue.execution import Execution, Finish, TaskFailed
from tally.queue.worker import Worker
from tally.store.engine import write_transaction
from tally.store.types import utcnow
from tests.feedback.receiver import Received, Receiver, Reply
from tests.feedback.support import refresh_with, running_worker, wait_feedback, without_feedback, xml_without_feedback
from tests.helpers import Api
from tests.queue.support import insert_task, registry_for


async def api_with_secret(api: Api, engine: AsyncEngine) -> tuple[Api, str]:
    """A client of a new account that has a signing secret, and the secret."""
    name = f"signed-{uuid.uuid4().hex[:8]}"
    created = await token_create(engine, name)
    secret = await secret_create(engine, name, grace=timedelta(0))
    return Api(api.client, created.token, created.account_id), secret


SOME_SECRET = "whsec_" + base64.b64encode(b"nobody's secret").decode()


def documented_signature(secret: str, request: Received) -> str:
    """api.md section 7, by hand: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<raw body>">."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def check_headers(request: Received, content_type: str) -> None:
    assert request.headers["content-type"] == content_type
    assert int(request.headers["content-length"]) == len(request.body)
    assert str(uuid.UUID(request.webhook_id)) == request.webhook_id
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.headers["user-agent"] == "Tally-Feedback/1"


async def test_json_delivery_is_the_status_envelope_signed(api: Api, engine: AsyncEngine, receiver: Receiver) -> None:
    api, secret = await api_with_secret(api, engine)
    task_id = await refresh_with(api, {"type": "json", "url": receiver.url("/hooks/tally?source=test")})

    data = await wait_feedback(api, task_id)

    assert data["feedback"] == [
        {
            "url": receiver.url("/hooks/tally?source=test"),
            "type": "JSON",
            "status": "delivered",
            "attempts": 1,
            "last_error": "",
        }
    ]
    [request] = receiver.requests
    assert request.path == "/hooks/tally?source=test"
    check_headers(request, "application/json")
    envelope = without_feedback(await api.call("tasks/status", {"task_id": task_id}))
    delivered = json.loads(request.body)
    assert delivered == envelope
    assert json.dumps(delivered) == json.dumps(envelope), "same keys in the same order"
    assert delivered["data"]["status"] == "completed"
    assert delivered["data"]["result"][0]["channels"]
    # The signature: the documented receiver code accepts it, and it is the documented HMAC.
    assert Webhook(secret).verify(request.body, request.headers) == delivered
    assert request.headers["webhook-signature"] == documented_signature(secret, request)


async def test_xml_delivery_is_the_xml_status_envelope_signed(
    api: Api, engine: AsyncEngine, receiver: Receiver
) -> None:
    api, secret = await api_with_secret(api, engine)
    task_id = await refresh_with(api, {"type": "xMl", "url": receiver.url()})

    data = await wait_feedback(api, task_id)

    assert [(entry["type"], entry["status"], entry["attempts"]) for entry in data["feedback"]] == [
        ("XML", "delivered", 1)
    ]
    [request] = receiver.requests
    check_headers(request, "application/xml; charset=utf-8")
    status_xml = await api.raw("tasks/status", {"task_id": task_id, "format": "xml"})
    assert b"<feedback>" in status_xml.content
    assert request.body == xml_without_feedback(status_xml.content)
    assert request.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<xml>\n<data>\n<status>completed</status>')
    Webhook(secret).verify(request.body, request.headers, json_parse=False)
    assert request.headers["webhook-signature"] == documented_signature(secret, request)


async def test_retries_send_the_same_body_and_webhook_id(api: Api, engine: AsyncEngine, receiver: Receiver) -> None:
    api, secret = await api_with_secret(api, engine)
    receiver.script([Reply(500), Reply(503)])
    task_id = await refresh_with(api, {"type": "JSON", "url": receiver.url()})

    data = await wait_feedback(api, task_id)

    assert data["feedback"][0]["status"] == "delivered"
    assert data["feedback"][0]["attempts"] == 3
    first, *retries = receiver.requests
    assert len(retries) == 2
    for retry in retries:
        assert retry.webhook_id == first.webhook_id
        assert retry.body == first.body
        # Each attempt is signed anew (fresh timestamp): each verifies on its own.
        Webhook(secret).verify(retry.body, retry.headers)
        assert retry.headers["webhook-signature"] == documented_signature(secret, retry)


async def test_each_delivery_has_its_own_webhook_id(
    idle_api: Api, engine: AsyncEngine, settings: Settings, receiver: Receiver
) -> None:
    api = idle_api
    task_id = await refresh_with(
        api, {"type": "JSON", "url": receiver.url("/a")}, {"type": "XML", "url": receiver.url("/b")}
    )

    async with running_worker(engine, settings):
        data = await wait_feedback(api, task_id)

    assert [entry["status"] for entry in data["feedback"]] == ["delivered", "delivered"]
    ids = {request.path: request.webhook_id for request in receiver.requests}
    assert sorted(ids) == ["/a", "/b"]
    assert ids["/a"] != ids["/b"]


async def test_account_without_secret_gets_unsigned_deliveries(api: Api, receiver: Receiver) -> None:
    task_id = await refresh_with(api, {"type": "JSON", "url": receiver.url()})

    await wait_feedback(api, task_id)

    [request] = receiver.requests
    assert "webhook-signature" not in request.headers
    assert request.headers["webhook-id"] and request.headers["webhook-timestamp"]
    with pytest.raises(WebhookVerificationError, match="Missing required headers"):
        Webhook(SOME_SECRET).verify(request.body, request.headers)


async def _fail(execution: Execution) -> Finish:
    raise TaskFailed("the count could not be made")


async def _crash(execution: Execution) -> Finish:
    raise RuntimeError("bug")


async def _register(engine: AsyncEngine, task_id: str, account_id: int, url: str) -> None:
    async with write_transaction(engine) as conn:
        await delivery_register(conn, task_id=task_id, account_id=account_id, url=url, type_="JSON", now=utcnow())


async def test_a_task_that_ends_in_error_is_delivered_too(
    engine: AsyncEngine, settings: Settings, receiver: Receiver
) -> None:
    account_id = (await token_create(engine, f"acme-{uuid.uuid4().hex[:8]}")).account_id
    task_id = await insert_task(engine, account_id, now=utcnow(), kind="flaky")
    await _register(engine, task_id, account_id, receiver.url())
    worker = Worker(
        engine, settings, registry_for({"flaky": _fail, runner.KIND: runner.run_delivery}, FEEDBACK.end_hooks)
    )

    assert await worker.run_once()  # the task: error, and its delivery queued
    assert await worker.run_once()  # the delivery

    [request] = receiver.requests
    data: dict[str, Any] = json.loads(request.body)["data"]
    assert (data["status"], data["result"], data["error_text"]) == ("error", None, "the count could not be made")
    assert data["task_id"] == task_id
    assert "feedback" not in data


async def test_a_delivery_job_that_crashes_ends_its_delivery_failed(
    idle_api: Api, engine: AsyncEngine, settings: Settings, receiver: Receiver
) -> None:
    # A delivery whose job cannot run (here: a bug) must not stay "pending" for ever.
    api = idle_api
    account_id = api.account_id
    task_id = await insert_task(engine, account_id, now=utcnow(), kind="flaky")
    await _register(engine, task_id, account_id, receiver.url())
    worker = Worker(engine, settings, registry_for({"flaky": _fail, runner.KIND: _crash}, FEEDBACK.end_hooks))

    assert await worker.run_once()
    assert await worker.run_once()

    data = await api.ok("tasks/status", {"task_id": task_id})
    assert data["feedback"] == [
        {
            "url": receiver.url(),
            "type": "JSON",
            "status": "failed",
            "attempts": 0,
            "last_error": "delivery stopped: Internal error while running the task (RuntimeError)",
        }
    ]
    assert receiver.requests == []
