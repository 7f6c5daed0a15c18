"""Per-request concerns over the ASGI app: request ids, request hooks, headers of errors."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.app import create_app
from tally.config import Settings
from tally.errors import TallyError
from tally.wire.hooks import RequestHook
from tally.wire.methods import Call, Method
from tests.wire.support import API, assert_error, assert_ok, envelope, is_xml, post_raw

MAX_BODY_BYTES = 1024
GENERATED = re.compile(r"[0-9a-f]{12}")


@pytest.fixture
def backend() -> str:
    return "sqlite"  # nothing here depends on the database beyond a token lookup


@dataclass
class Served:
    client: httpx.AsyncClient
    hooks: list[RequestHook]
    token: str
    account_id: int


@pytest.fixture
async def served(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Served]:
    """The app with a small body limit, its hook list and a token."""
    app = create_app(settings.with_(max_body_bytes=MAX_BODY_BYTES), embedded_worker=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tally.test") as client:
            created = await token_create(engine, "requests")
            yield Served(client, app.state.request_hooks, created.token, created.account_id)


class Throttled(TallyError):
    """Too many requests."""

    code = 429


# --- request ids ----------------------------------------------------------------------------


async def test_request_id_is_on_every_reply(served: Served) -> None:
    bearer = {"Authorization": f"Bearer {served.token}"}
    replies = [
        await post_raw(served.client, "databases/list", b"", headers=bearer),  # 200
        await post_raw(served.client, "databases/list", b"{}"),  # 401
        await post_raw(served.client, "x/y"),  # 404
        await served.client.get(f"{API}/databases/list"),  # 405
        await post_raw(served.client, "databases/list", b"{}", "text/plain"),  # 415
        await post_raw(served.client, "databases/list", b" " * (MAX_BODY_BYTES + 1)),  # 413
    ]
    assert [reply.status_code for reply in replies] == [200, 401, 404, 405, 415, 413]
    ids = [reply.headers["x-request-id"] for reply in replies]
    assert all(GENERATED.fullmatch(request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)


async def test_request_id_sane_incoming_is_kept(served: Served) -> None:
    for incoming in ["abc-123", "A.b_c-9", "x" * 64]:
        response = await post_raw(served.client, "databases/list", b"{}", headers={"X-Request-ID": incoming})
        assert response.headers["x-request-id"] == incoming


async def test_request_id_other_incoming_is_replaced(served: Served) -> None:
    for incoming in ["x" * 65, "a b", "id\twith\ttabs", "ünïcode", "a/b", "a;b=c", ""]:
        headers = {"X-Request-ID": incoming.encode()}
        response = await post_raw(served.client, "databases/list", b"{}", headers=headers)
        assert GENERATED.fullmatch(response.headers["x-request-id"]), incoming


async def test_internal_error_names_the_request_id_of_the_reply(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(call: Call, method: Method) -> None:
        raise RuntimeError("secret detail")

    served.hooks.append(broken)
    headers = {"Authorization": f"Bearer {served.token}", "X-Request-ID": "client-7"}
    response = await post_raw(served.client, "databases/list", b"", params={"format": "xml"}, headers=headers)
    assert is_xml(response)
    assert_error(response, 500, "Internal error (request client-7)")
    assert response.headers["x-request-id"] == "client-7"
    assert "secret" not in response.text
    assert any("client-7" in record.getMessage() and record.exc_info for record in caplog.records)


async def test_internal_error_generated_id_matches_the_header(served: Served) -> None:
    async def broken(call: Call, method: Method) -> None:
        raise RuntimeError("boom")

    served.hooks.append(broken)
    response = await post_raw(served.client, "databases/list", b"", headers={"Authorization": f"Bearer {served.token}"})
    request_id = response.headers["x-request-id"]
    assert GENERATED.fullmatch(request_id)
    assert_error(response, 500, f"Internal error (request {request_id})")


async def test_server_error_log_names_the_request_id(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    async def failing(call: Call, method: Method) -> None:
        raise TallyError("Store unavailable")

    served.hooks.append(failing)
    headers = {"Authorization": f"Bearer {served.token}", "X-Request-ID": "req-42"}
    with caplog.at_level(logging.ERROR, logger="tally.api"):
        response = await post_raw(served.client, "databases/list", b"", headers=headers)
    assert_error(response, 500, "Store unavailable")
    assert any("req-42" in record.getMessage() for record in caplog.records)


# --- request hooks --------------------------------------------------------------------------


async def test_hook_runs_after_authentication_with_the_call(served: Served) -> None:
    seen: list[tuple[int, str]] = []

    async def record(call: Call, method: Method) -> None:
        seen.append((call.account_id, method.path))

    served.hooks.append(record)
    response = await post_raw(served.client, "databases/list", b"", headers={"Authorization": f"Bearer {served.token}"})
    assert_ok(response)
    assert seen == [(served.account_id, "databases/list")]


async def test_hook_does_not_run_for_a_refused_token(served: Served) -> None:
    seen: list[Call] = []

    async def record(call: Call, method: Method) -> None:
        seen.append(call)

    served.hooks.append(record)
    assert_error(
        await post_raw(served.client, "databases/list", b'{"token": "tly_wrong"}'),
        401,
        "Invalid token: unknown or revoked",
    )
    assert_error(
        await post_raw(served.client, "databases/list", b"", headers={"Authorization": "Bearer tly_wrong"}),
        401,
        "Invalid token: unknown or revoked",
    )
    assert seen == []


async def test_hook_runs_before_parameter_validation(served: Served) -> None:
    async def refuse(call: Call, method: Method) -> None:
        raise Throttled("Too many requests: wait 7 s")

    served.hooks.append(refuse)
    body = f'{{"token": "{served.token}", "id": "abc"}}'.encode()
    assert_error(await post_raw(served.client, "databases/get", body), 429, "Too many requests: wait 7 s")


async def test_hook_error_is_an_envelope_with_its_headers(served: Served) -> None:
    async def throttle(call: Call, method: Method) -> None:
        raise Throttled("Too many requests: wait 7 s", headers={"Retry-After": "7"})

    served.hooks.append(throttle)
    headers = {"Authorization": f"Bearer {served.token}", "Accept": "application/xml"}
    response = await post_raw(served.client, "databases/list", b"", headers=headers)
    assert is_xml(response)
    assert envelope(response) == {"data": "", "error": 429, "error_text": "Too many requests: wait 7 s"}
    assert response.headers["retry-after"] == "7"
    assert GENERATED.fullmatch(response.headers["x-request-id"])


async def test_hooks_run_in_order_and_stop_at_the_first_error(served: Served) -> None:
    order: list[str] = []

    async def first(call: Call, method: Method) -> None:
        order.append("first")
        raise Throttled()

    async def second(call: Call, method: Method) -> None:
        order.append("second")

    served.hooks.extend([first, second])
    response = await post_raw(served.client, "databases/list", b"", headers={"Authorization": f"Bearer {served.token}"})
    assert_error(response, 429, "Too many requests.")
    assert order == ["first"]
