"""Posts from another site, without the CSRF token, or too big are refused, and change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.store.engine import read_transaction
from tally.store.tables import dashboard_sessions, tasks
from tests.dashboard.support import sign_in
from tests.helpers import Api


async def _task_count(engine: AsyncEngine) -> int:
    async with read_transaction(engine) as conn:
        return int(await conn.scalar(select(func.count()).select_from(tasks)) or 0)


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://attacker.invalid"},
        {"Origin": "null"},
    ],
    ids=["sec-fetch-site cross-site", "sec-fetch-site same-site", "foreign origin", "opaque origin"],
)
async def test_a_cross_site_post_is_refused_even_with_the_csrf_token(
    api: Api, engine: AsyncEngine, headers: dict[str, str]
) -> None:
    database_id, resource_id = await api.setup_catalog()
    browser = await sign_in(api)
    before = await _task_count(engine)
    response = await browser.client.post(
        f"/databases/{database_id}/resources/{resource_id}/refresh", data={"csrf": browser.csrf}, headers=headers
    )
    assert response.status_code == 403
    assert "another site" in response.text
    assert await _task_count(engine) == before


async def test_a_post_without_the_csrf_token_is_refused(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog()
    browser = await sign_in(api)
    path = f"/databases/{database_id}/resources/{resource_id}/refresh"
    before = await _task_count(engine)
    for fields in ({}, {"csrf": ""}, {"csrf": browser.csrf[:-1] + "x"}):
        response = await browser.client.post(path, data=fields, headers={"Sec-Fetch-Site": "same-origin"})
        assert response.status_code == 403, fields
        assert "reload and retry" in response.text
    assert await _task_count(engine) == before
    # The same post from Tally's own page is taken, by the form field or by htmx's header.
    assert (await browser.post(path)).status_code == 303
    htmx = await browser.client.post(
        path, headers={"Sec-Fetch-Site": "same-origin", "HX-Request": "true", "X-CSRF-Token": browser.csrf}
    )
    assert htmx.status_code == 200 and "<progress" in htmx.text


async def test_the_sign_in_form_refuses_a_cross_site_post(api: Api, engine: AsyncEngine) -> None:
    response = await api.client.post("/login", data={"token": api.token}, headers={"Sec-Fetch-Site": "cross-site"})
    assert response.status_code == 403 and "set-cookie" not in response.headers
    async with read_transaction(engine) as conn:
        assert await conn.scalar(select(func.count()).select_from(dashboard_sessions)) == 0


async def test_a_form_with_neither_fetch_metadata_nor_origin_is_refused(api: Api, engine: AsyncEngine) -> None:
    """Every browser sends one of them on a POST: a form without is not from Tally's page."""
    database_id, resource_id = await api.setup_catalog()
    browser = await sign_in(api)
    response = await browser.client.post(
        f"/databases/{database_id}/resources/{resource_id}/refresh", data={"csrf": browser.csrf}
    )
    assert response.status_code == 403
    login = await api.client.post("/login", data={"token": api.token})
    assert login.status_code == 403 and "set-cookie" not in login.headers


async def test_a_form_from_the_same_host_without_fetch_metadata_is_taken(api: Api) -> None:
    """Older browsers send Origin alone: the host must be this one."""
    database_id, resource_id = await api.setup_catalog()
    browser = await sign_in(api)
    response = await browser.client.post(
        f"/databases/{database_id}/resources/{resource_id}/refresh",
        data={"csrf": browser.csrf},
        headers={"Origin": "http://tally.test"},
    )
    assert response.status_code == 303


async def test_oversized_and_odd_forms_get_a_clear_refusal(api: Api) -> None:
    browser = await sign_in(api)
    too_big = await browser.post("/schedules", {"cron": "x" * 20_000})
    assert too_big.status_code == 413 and "at most 16 KiB" in too_big.text
    json_body = await browser.client.post(
        "/schedules",
        content=b'{"csrf": "x"}',
        headers={"Content-Type": "application/json", "Sec-Fetch-Site": "same-origin"},
    )
    assert json_body.status_code == 415
    many = "&".join(f"f{number}=1" for number in range(100))
    crowded = await browser.client.post(
        "/schedules",
        content=many.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"},
    )
    assert crowded.status_code == 400
    not_utf8 = await browser.client.post(
        "/schedules",
        content=b"csrf=%FF%FE&cron=\xff",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"},
    )
    assert not_utf8.status_code == 400 and "UTF-8" in not_utf8.text
