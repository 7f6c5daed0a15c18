"""The dashboard in a real browser against a real ``tally serve``: the journey a person takes.

Sign in, see the counters, press Refresh and watch the progress reach 100 while the page
redraws without a reload, see the new point on the history chart, add a schedule with its
preview, look at the tasks, sign out and find the pages closed. Every page is checked with
axe-core and photographed at desktop and phone widths (build/test-artifacts/dashboard).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.catalog.service import database_add, resource_add
from tally.config import Settings
from tally.demo import demo_profiles
from tally.profiles.service import profiles_add
from tally.store.engine import write_transaction
from tests.conftest import POSTGRES_URL, free_port
from tests.dashboard.browser import (
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    accessibility_problems,
    chromium_path,
    screenshot,
)
from tests.processes import tally_processes

PROFILES = 400


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    path = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def _demo_account(engine: AsyncEngine) -> tuple[str, int, int]:
    created = await token_create(engine, "browser")
    async with write_transaction(engine) as conn:
        database_id = await database_add(conn, created.account_id, "Customers", "")
        resource_id = await resource_add(
            conn, created.account_id, "Newsletter", ["email", "sms", "push"], [database_id]
        )
        await profiles_add(conn, created.account_id, database_id, list(demo_profiles(PROFILES, resource_id)))
    return created.token, database_id, resource_id


class Watched:
    """A page whose console errors (a refused script, a CSP violation) fail the test."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


async def _check(page: Page, name: str) -> None:
    """No serious accessibility problem, and a screenshot."""
    problems = await accessibility_problems(page)
    assert problems == [], f"{name}: {problems}"
    await screenshot(page, name)


async def test_the_dashboard_journey_in_chromium(
    engine: AsyncEngine, settings: Settings, tmp_path: Path, chromium: Browser, backend: str
) -> None:
    token, database_id, resource_id = await _demo_account(engine)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tally_processes(settings.database_url, tmp_path) as tally:
        tally.serve(port)
        context = await chromium.new_context(viewport=DESKTOP)
        watched = Watched(await context.new_page())
        page = watched.page

        await page.goto(base + "/")
        await expect(page).to_have_url(base + "/login")
        await _check(page, f"{backend}-login")
        await page.get_by_label("API token").fill(token)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page).to_have_url(base + "/")
        await expect(page.get_by_text("Not counted yet")).to_be_visible()
        await _check(page, f"{backend}-home-before")

        await page.get_by_role("link", name="Customers · Newsletter").click()
        pair_url = f"{base}/databases/{database_id}/resources/{resource_id}"
        await expect(page).to_have_url(pair_url)
        await expect(page.locator("figure.chart")).to_have_count(0)
        # A mark in the page's memory: it survives only if the page is never reloaded.
        await page.evaluate("window.tallyMark = 'kept'")
        await page.get_by_role("button", name="Refresh counters").click()
        progress = page.locator("#refresh-status progress")
        await expect(progress).to_have_attribute("value", "100", timeout=15_000)
        await expect(page.locator("#refresh-status")).to_contain_text("Counted in")
        await expect(page.locator("#counters")).to_contain_text("Last counted")
        await expect(page.locator('figure[data-channel="email"]')).to_have_attribute("data-points", "1")
        assert await page.evaluate("window.tallyMark") == "kept", "the page reloaded instead of redrawing"
        sendable = await page.locator("#counters").inner_text()
        assert re.search(r"Sendable: [1-9]", sendable), sendable
        await _check(page, f"{backend}-pair-refreshed")

        # A second refresh, from the keyboard: a second point on each chart, still no reload.
        await page.get_by_role("button", name="Refresh counters").focus()
        await page.keyboard.press("Enter")
        await expect(page.locator('figure[data-channel="email"]')).to_have_attribute("data-points", "2", timeout=15_000)
        assert await page.locator('figure[data-channel="email"] svg circle').count() == 4  # 2 lines x 2 points
        assert await page.evaluate("window.tallyMark") == "kept"
        await page.get_by_label("Window").select_option("24h")
        await expect(page.locator("#window")).to_have_value("24h")
        await expect(page.locator('figure[data-channel="email"]')).to_have_attribute("data-points", "2")

        await page.get_by_role("link", name="Schedules").click()
        await page.get_by_label("Cron expression").fill("*/30 * * * *")
        await expect(page.locator("#preview")).to_contain_text("Every 30 minutes")
        await page.get_by_label("Time zone").fill("Europe/Berlin")
        await expect(page.locator("#preview")).to_contain_text("(Europe/Berlin)")
        await expect(page.locator("#preview li")).to_have_count(5)
        await _check(page, f"{backend}-schedules-preview")
        await page.get_by_role("button", name="Add schedule").click()
        await expect(page.locator("table.schedules")).to_contain_text("*/30 * * * *")
        await page.get_by_role("button", name="Pause schedule").click()
        await expect(page.locator("table.schedules")).to_contain_text("paused")
        await _check(page, f"{backend}-schedules")

        await page.get_by_role("link", name="Tasks").click()
        await expect(page.locator("table.tasks tbody tr")).to_have_count(2)
        await _check(page, f"{backend}-tasks")
        await page.locator("table.tasks a").first.click()
        await expect(page.locator("h1")).to_contain_text("Task")
        await _check(page, f"{backend}-task")

        # The same pages at a phone's width, in the same session.
        phone = await chromium.new_context(viewport=PHONE, storage_state=await context.storage_state())
        small = Watched(await phone.new_page())
        for name, url in [("home", "/"), ("pair", pair_url), ("tasks", "/tasks"), ("schedules", "/schedules")]:
            await small.page.goto(url if url.startswith("http") else base + url)
            width = await small.page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{name} scrolls sideways on a phone ({width}px)"
            await _check(small.page, f"{backend}-phone-{name}")
        await phone.close()

        await page.get_by_role("button", name="Sign out").click()
        await expect(page).to_have_url(base + "/login")
        for url in ("/", pair_url, "/tasks", "/schedules"):
            await page.goto(url if url.startswith("http") else base + url)
            await expect(page).to_have_url(base + "/login")
        # Nothing the browser kept or was shown holds the token.
        assert token not in await page.content()
        assert all(token not in cookie["value"] for cookie in await context.cookies())
        assert watched.errors == [] and small.errors == [], (watched.errors, small.errors)
        await context.close()


async def test_the_dashboard_works_with_javascript_off(
    engine: AsyncEngine, settings: Settings, tmp_path: Path, chromium: Browser, backend: str
) -> None:
    if backend != ("postgres" if POSTGRES_URL else "sqlite"):
        pytest.skip("the pages are the same on both: once is enough")
    token, database_id, resource_id = await _demo_account(engine)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tally_processes(settings.database_url, tmp_path) as tally:
        tally.serve(port)
        context = await chromium.new_context(viewport=DESKTOP, java_script_enabled=False)
        page = await context.new_page()
        await page.goto(base + "/login")
        await page.get_by_label("API token").fill(token)
        await page.get_by_role("button", name="Sign in").click()
        await page.goto(f"{base}/databases/{database_id}/resources/{resource_id}")
        await page.get_by_role("button", name="Refresh counters").click()
        # A plain POST: the task's own page, which reloads itself (<noscript> refresh) until done.
        await expect(page).to_have_url(re.compile(rf"{base}/tasks/[0-9a-f-]+"))
        await expect(page.locator("dl.facts")).to_contain_text("completed", timeout=15_000)
        await page.get_by_role("link", name=f"database {database_id}, resource {resource_id}").click()
        counters = await page.locator("#counters").inner_text()
        assert "Last counted" in counters and re.search(r"Sendable: [1-9]", counters), counters
        await page.get_by_label("Window").select_option("7d")
        await page.get_by_role("button", name="Show").click()
        await expect(page).to_have_url(re.compile(r"\?window=7d$"))
        await expect(page.locator('figure[data-channel="email"]')).to_have_attribute("data-points", "1")
        await screenshot(page, "no-javascript-pair")
        await context.close()
