"""Signing in and out: the cookie's flags, the token kept out of every page, sessions that end."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create, token_revoke
from tally.config import Settings
from tally.dashboard.sessions import purge_sessions
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import dashboard_sessions
from tally.store.types import utcnow
from tests.dashboard.support import sign_in
from tests.helpers import Api, make_app

SAME_SITE = {"Sec-Fetch-Site": "same-origin"}


async def test_pages_send_a_signed_out_browser_to_the_sign_in_page(api: Api) -> None:
    for path in ("/", "/tasks", "/schedules", "/databases/1/resources/1", "/tasks/abc"):
        response = await api.client.get(path)
        assert response.status_code == 303 and response.headers["location"] == "/login", path
    htmx = await api.client.get("/tasks", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/login"
    login = await api.client.get("/login")
    assert login.status_code == 200
    assert 'type="password"' in login.text and 'action="/login"' in login.text


async def test_the_session_cookie_is_httponly_samesite_strict_and_holds_no_token(api: Api, settings: Settings) -> None:
    response = await api.client.post("/login", data={"token": api.token}, headers=SAME_SITE)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "path", "max-age"} <= flags
    assert "samesite=strict" in cookie.lower()
    assert f"max-age={int(settings.dashboard_session_hours * 3600)}" in cookie.lower()
    assert "secure" not in flags  # plain http: a Secure cookie would never come back
    assert api.token not in cookie and api.token not in response.headers.get("location", "")


async def test_over_https_the_cookie_is_secure(settings: Settings, engine: AsyncEngine) -> None:
    created = await token_create(engine, "tls")
    async with make_app(settings, embedded_worker=False) as client:
        client.base_url = httpx.URL("https://tally.test")
        response = await client.post("/login", data={"token": created.token}, headers=SAME_SITE)
        assert response.status_code == 303
        assert "secure" in {part.strip().lower() for part in response.headers["set-cookie"].split(";")}


async def test_a_wrong_token_is_refused_without_echoing_it(api: Api) -> None:
    wrong = api.token[:-4] + "XXXX"
    response = await api.client.post("/login", data={"token": wrong}, headers=SAME_SITE)
    assert response.status_code == 401
    assert "unknown or revoked" in response.text and "tally token create" in response.text
    assert wrong not in response.text and "set-cookie" not in response.headers
    for value in ("", " ", "x" * 5000, "ünïcode"):
        refused = await api.client.post("/login", data={"token": value}, headers=SAME_SITE)
        assert refused.status_code == 401, value
    assert (await api.client.get("/")).status_code == 303


async def test_no_page_or_url_holds_the_token(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    browser = await sign_in(api)
    refreshed = await browser.post(f"/databases/{database_id}/resources/{resource_id}/refresh")
    assert refreshed.status_code == 303
    task_url = refreshed.headers["location"]
    await api.wait_task(task_url.rsplit("/", 1)[1])
    pair = f"/databases/{database_id}/resources/{resource_id}"
    for path in ("/", pair, f"{pair}/counters", "/tasks", task_url, "/schedules", "/login"):
        response = await api.client.get(path)
        assert response.status_code in (200, 303), path
        assert api.token not in response.text, path
        assert api.token not in str(response.url) and api.token not in response.headers.get("location", "")


async def test_signing_out_ends_the_session_for_that_cookie_too(api: Api, engine: AsyncEngine) -> None:
    browser = await sign_in(api)
    cookie = dict(api.client.cookies)
    response = await browser.post("/logout")
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert 'tally_session=""' in response.headers["set-cookie"] or "max-age=0" in response.headers["set-cookie"].lower()
    assert (await api.client.get("/")).status_code == 303
    # The old cookie, replayed, opens nothing: the session is gone from the database.
    api.client.cookies.update(cookie)
    assert (await api.client.get("/")).status_code == 303
    async with read_transaction(engine) as conn:
        assert await conn.scalar(select(func.count()).select_from(dashboard_sessions)) == 0


async def test_revoking_the_token_ends_its_sessions(api: Api, engine: AsyncEngine) -> None:
    await sign_in(api)
    assert (await api.client.get("/")).status_code == 200
    await token_revoke(engine, api.token)
    assert (await api.client.get("/")).status_code == 303


async def test_an_expired_session_opens_nothing_and_is_purged(
    api: Api, engine: AsyncEngine, settings: Settings
) -> None:
    await sign_in(api)
    async with write_transaction(engine) as conn:
        await conn.execute(update(dashboard_sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await api.client.get("/")).status_code == 303
    async with write_transaction(engine) as conn:
        await purge_sessions(conn, utcnow(), settings)
    async with read_transaction(engine) as conn:
        assert await conn.scalar(select(func.count()).select_from(dashboard_sessions)) == 0


async def test_signing_in_again_ends_the_session_before(api: Api, engine: AsyncEngine) -> None:
    await sign_in(api)
    before = dict(api.client.cookies)
    await sign_in(api)
    async with read_transaction(engine) as conn:
        assert await conn.scalar(select(func.count()).select_from(dashboard_sessions)) == 1
    api.client.cookies.clear()
    api.client.cookies.update(before)
    assert (await api.client.get("/")).status_code == 303


async def test_a_signed_in_browser_skips_the_sign_in_page(api: Api) -> None:
    await sign_in(api)
    response = await api.client.get("/login")
    assert response.status_code == 303 and response.headers["location"] == "/"
