"""What the pages show, for whom: counters, history, tasks, schedules, and 404 for anyone else's."""

from __future__ import annotations

import re

from sqlalchemy.ext.asyncio import AsyncEngine

from tally.dashboard.pages import CONTENT_SECURITY_POLICY
from tests.dashboard.support import Browser, page_urls, sign_in
from tests.helpers import Api

PROFILES = [
    {"email": "a@example.org", "subscriptions": [{"resource_id": 0, "channel": "email", "email": "a@example.org"}]},
    {"email": "b@example.org", "subscriptions": [{"resource_id": 0, "channel": "email", "email": "b@example.org"}]},
    {
        "email": "c@example.org",
        "subscriptions": [{"resource_id": 0, "channel": "email", "email": "c@example.org", "status": "unsubscribed"}],
    },
]


async def _catalog_with_profiles(api: Api) -> tuple[int, int]:
    database_id, resource_id = await api.setup_catalog(["email", "sms"])
    for profile in PROFILES:
        subscriptions = [{**sub, "resource_id": resource_id} for sub in profile["subscriptions"]]
        await api.ok("profiles/add", {"db_id": database_id, "data": {**profile, "subscriptions": subscriptions}})
    return database_id, resource_id


async def _refresh(api: Api, browser: Browser, database_id: int, resource_id: int) -> str:
    response = await browser.post(f"/databases/{database_id}/resources/{resource_id}/refresh")
    assert response.status_code == 303
    task_id = response.headers["location"].rsplit("/", 1)[1]
    assert (await api.wait_task(task_id))["status"] == "completed"
    return task_id


def _text(html: str) -> str:
    """The page's words, without tags: what a reader sees."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


async def test_home_shows_each_pair_with_its_reach_after_a_refresh(api: Api) -> None:
    database_id, resource_id = await _catalog_with_profiles(api)
    browser = await sign_in(api)
    before = _text((await api.client.get("/")).text)
    assert "Customers · Newsletter" in before and "Not counted yet" in before
    await _refresh(api, browser, database_id, resource_id)
    home = _text((await api.client.get("/")).text)
    assert "3 profiles" in home
    # Email: two subscribed and sendable, none unconfirmed; sms: nobody.
    assert "Email 2 0" in home and "SMS 0 0" in home
    assert "Counted just now" in home
    assert "Not linked yet" not in home


async def test_home_lists_what_is_not_linked_yet(api: Api) -> None:
    database_id = (await api.ok("databases/add", {"name": "Lonely list"}))["id"]
    resource_id = (await api.ok("resources/add", {"name": "Lonely news", "channels": ["email"]}))["id"]
    await sign_in(api)
    home = _text((await api.client.get("/")).text)
    assert f"Database {database_id}: Lonely list, with no resource" in home
    assert f"Resource {resource_id}: Lonely news, in no database" in home


async def test_the_pair_page_shows_the_ten_counters_bars_and_changes(api: Api) -> None:
    database_id, resource_id = await _catalog_with_profiles(api)
    browser = await sign_in(api)
    await _refresh(api, browser, database_id, resource_id)
    pair = f"/databases/{database_id}/resources/{resource_id}"
    first = _text((await api.client.get(pair)).text)
    assert "Sendable: 2 (66.7 %)" in first
    assert "Unsubscribed, complained, bounced, suspended or invalid: 1 (33.3 %)" in first
    assert "No subscription on this channel: 3 (100.0 %)" in first  # sms
    for counter in ("all", "subscribed_sendable", "unconfirmed_sendable", "hardbounced", "invalid"):
        assert f" {counter} " in first, counter
    assert "change since the refresh before" not in first  # one refresh: nothing to compare with
    await api.ok(
        "profiles/add",
        {
            "db_id": database_id,
            "data": {
                "email": "d@example.org",
                "subscriptions": [{"resource_id": resource_id, "channel": "email", "email": "d@example.org"}],
            },
        },
    )
    await _refresh(api, browser, database_id, resource_id)
    second = _text((await api.client.get(pair)).text)
    assert "change since the refresh before the last" in second
    assert "subscribed_sendable 3 +1 0 0" in second  # email went 2 -> 3, sms stayed at 0
    history = (await api.client.get(pair)).text
    assert history.count("<svg") == 2  # a chart per channel
    assert 'data-channel="email" data-points="2"' in history


async def test_the_history_window_picker_and_its_htmx_part(api: Api) -> None:
    database_id, resource_id = await _catalog_with_profiles(api)
    browser = await sign_in(api)
    await _refresh(api, browser, database_id, resource_id)
    pair = f"/databases/{database_id}/resources/{resource_id}"
    for window in ("24h", "7d", "30d", "90d", "365d", "all"):
        page = (await api.client.get(f"{pair}?window={window}")).text
        assert f'<option value="{window}" selected>' in page
        assert 'data-points="1"' in page
    part = await api.client.get(f"{pair}/history?window=7d", headers={"HX-Request": "true"})
    assert part.status_code == 200 and part.text.lstrip().startswith('<section id="history"')
    assert "<html" not in part.text
    # Without htmx the part's URL gives the whole page, at the same window.
    plain = await api.client.get(f"{pair}/history?window=7d")
    assert plain.status_code == 303 and plain.headers["location"] == f"{pair}?window=7d"
    unknown = (await api.client.get(f"{pair}?window=forever")).text
    assert '<option value="30d" selected>' in unknown


async def test_refresh_progress_part_tells_the_page_to_redraw_when_the_task_ends(api: Api) -> None:
    database_id, resource_id = await _catalog_with_profiles(api)
    browser = await sign_in(api)
    started = await browser.post(
        f"/databases/{database_id}/resources/{resource_id}/refresh", headers={"HX-Request": "true"}
    )
    assert started.status_code == 200 and "<progress" in started.text
    task_id = re.search(r'id="task-([0-9a-f-]+)"', started.text)
    assert task_id is not None
    await api.wait_task(task_id.group(1))
    done = await api.client.get(f"/tasks/{task_id.group(1)}/progress", headers={"HX-Request": "true"})
    assert done.headers["hx-trigger"] == "tally-task-ended"
    assert 'value="100"' in done.text and "hx-get" not in done.text  # stops polling
    counters = await api.client.get(f"/databases/{database_id}/resources/{resource_id}/counters")
    assert counters.text.lstrip().startswith('<div id="counters"') and 'hx-trigger="tally-task-ended from:body"' in (
        counters.text
    )


async def test_tasks_page_lists_tasks_with_duration_and_deliveries(api: Api) -> None:
    database_id, resource_id = await _catalog_with_profiles(api)
    browser = await sign_in(api)
    task_id = await _refresh(api, browser, database_id, resource_id)
    tasks = _text((await api.client.get("/tasks")).text)
    assert task_id[:8] in tasks and "refresh_counters completed" in tasks
    assert re.search(r"completed \S+ ago|completed just now", tasks)
    assert re.search(r"\d+(\.\d+)? (ms|s) none", tasks), tasks  # its duration; no feedback asked
    page = _text((await api.client.get(f"/tasks/{task_id}")).text)
    assert f"Task {task_id}" in page and f"database {database_id}, resource {resource_id}" in page
    assert f'tasks/status with "task_id": "{task_id}"' in page  # the API's own parameter name


async def test_schedules_add_pause_resume_delete(api: Api) -> None:
    database_id, resource_id = await _catalog_with_profiles(api)
    browser = await sign_in(api)
    pair = f"{database_id}:{resource_id}"
    bad = await browser.post("/schedules", {"pair": pair, "cron": "61 * * * *", "timezone": "UTC"})
    assert bad.status_code == 400 and "The cron or time zone is not a valid cron expression" in bad.text
    assert 'value="61 * * * *"' in bad.text  # what was typed stays in the form
    zone = await browser.post("/schedules", {"pair": pair, "cron": "0 6 * * 1-5", "timezone": "Mars/Olympus"})
    assert zone.status_code == 400 and "IANA time zone" in zone.text
    for odd in ("x", "1:2:3", f"{2**63}:1", "0:1", ""):
        no_pair = await browser.post("/schedules", {"pair": odd, "cron": "0 6 * * *", "timezone": "UTC"})
        assert no_pair.status_code == 400 and "Choose a database and resource" in no_pair.text, odd
    for fields in ({"pair": pair}, {"cron": "0 6 * * *", "timezone": "UTC"}, {}):
        missing = await browser.post("/schedules", fields)
        assert missing.status_code == 400, fields  # a field left out is an answer, not a 500
    added = await browser.post("/schedules", {"pair": pair, "cron": "0 6 * * 1-5", "timezone": "Europe/Berlin"})
    assert added.status_code == 303 and added.headers["location"] == "/schedules"
    listing = _text((await api.client.get("/schedules")).text)
    assert "At 06:00, Monday through Friday (Europe/Berlin)" in listing and "active" in listing
    (schedule,) = await api.ok("schedules/list", {})
    assert schedule["cron"] == "0 6 * * 1-5" and schedule["timezone"] == "Europe/Berlin"
    assert (await browser.post(f"/schedules/{schedule['id']}/pause")).status_code == 303
    assert (await api.ok("schedules/get", {"id": schedule["id"]}))["paused"] is True
    assert (await browser.post(f"/schedules/{schedule['id']}/resume")).status_code == 303
    assert (await api.ok("schedules/get", {"id": schedule["id"]}))["paused"] is False
    assert (await browser.post(f"/schedules/{schedule['id']}/delete")).status_code == 303
    assert await api.ok("schedules/list", {}) == []


async def test_the_cron_preview_says_it_in_words_and_lists_the_next_runs(api: Api) -> None:
    await api.setup_catalog()
    await sign_in(api)
    part = await api.client.get(
        "/schedules/preview", params={"cron": "30 2 * * *", "timezone": "America/New_York"}, headers={"HX-Request": "1"}
    )
    text = _text(part.text)
    assert "At 02:30 (America/New_York)" in text
    assert len(re.findall(r"\d{2}:30 E[SD]T", text)) == 5, text
    wrong = _text((await api.client.get("/schedules/preview", params={"cron": "every day"})).text)
    assert "Not a schedule Tally can run: must be a cron expression of 5 fields" in wrong
    # With scripts off, the Preview button posts the form, which shows it and adds nothing.
    browser = await sign_in(api)
    preview = await browser.post("/schedules", {"action": "preview", "cron": "*/15 * * * *", "timezone": "UTC"})
    assert preview.status_code == 200 and "Every 15 minutes (UTC)" in _text(preview.text)
    assert 'value="*/15 * * * *"' in preview.text
    assert await api.ok("schedules/list", {}) == []


async def test_another_accounts_ids_give_the_same_404_page_as_unknown_ones(api: Api, engine: AsyncEngine) -> None:
    other = await Api.for_new_account(api.client, engine)
    their_database, their_resource = await other.setup_catalog()
    their_task = (await other.ok("databases/refresh_counters", {"id": their_database, "resource_id": their_resource}))[
        "task_id"
    ]
    their_schedule = await other.ok(
        "schedules/add", {"db_id": their_database, "resource_id": their_resource, "cron": "0 6 * * *"}
    )
    await other.wait_task(their_task)
    mine = await api.setup_catalog()
    browser = await sign_in(api)
    unknown = await api.client.get("/databases/999999/resources/999999")
    assert unknown.status_code == 404
    for huge in (f"/databases/{2**63}/resources/1", f"/databases/1/resources/{10**30}"):
        beyond = await api.client.get(huge)
        assert beyond.status_code == 404 and beyond.text == unknown.text, huge
    for huge in (f"/schedules/{2**63}/pause", f"/schedules/{10**30}/delete"):
        assert (await browser.post(huge)).status_code == 404, huge
    foreign_gets = [
        f"/databases/{their_database}/resources/{their_resource}",
        f"/databases/{their_database}/resources/{their_resource}/counters",
        f"/databases/{mine[0]}/resources/{their_resource}",  # my database, their resource
        f"/tasks/{their_task}",
        f"/tasks/{their_task}/progress",
    ]
    for path in foreign_gets:
        response = await api.client.get(path)
        assert response.status_code == 404, path
        assert response.text == unknown.text, path
    foreign_posts = [
        f"/databases/{their_database}/resources/{their_resource}/refresh",
        f"/schedules/{their_schedule['id']}/pause",
        f"/schedules/{their_schedule['id']}/delete",
    ]
    for path in foreign_posts:
        response = await browser.post(path)
        assert response.status_code == 404 and response.text == unknown.text, path
    add = await browser.post("/schedules", {"pair": f"{their_database}:{their_resource}", "cron": "0 6 * * *"})
    assert add.status_code == 404
    assert (await other.ok("schedules/get", {"id": their_schedule["id"]}))["paused"] is False
    home = (await api.client.get("/")).text
    assert f"/databases/{their_database}/" not in home


async def test_every_page_loads_only_from_tally_and_sends_its_security_headers(api: Api) -> None:
    database_id, resource_id = await _catalog_with_profiles(api)
    browser = await sign_in(api)
    task_id = await _refresh(api, browser, database_id, resource_id)
    pair = f"/databases/{database_id}/resources/{resource_id}"
    for path in ("/login", "/", pair, "/tasks", f"/tasks/{task_id}", "/schedules", "/databases/9/resources/9"):
        if path == "/login":
            await browser.post("/logout")
        response = await api.client.get(path)
        if path == "/login":
            await sign_in(api)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
        urls = page_urls(response.text)
        assert urls, path
        for url in urls:
            assert url.startswith(("/", "#")) and not url.startswith("//"), f"{path} loads {url} from elsewhere"
        for asset in (url for url in urls if url.startswith("/static/")):
            loaded = await api.client.get(asset)
            assert loaded.status_code == 200 and len(loaded.content) > 200, asset
