"""Chromium from the system's packages, driven by Playwright: found, launched, and checked.

The browser is Debian's (``apt-get install chromium``), launched by its path: Playwright's
own browser download would need a host this machine cannot reach. Without it the browser
tests skip, unless ``TALLY_TEST_REQUIRE_BROWSER`` is set (as .ci/run does): then they fail.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page

#: Screenshots of every page, at desktop and phone widths: kept after the run.
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "dashboard"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
#: As the machine's notes advise: without these, Chromium keeps calling hosts it cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: axe-core impacts that fail a page.
BLOCKING_IMPACTS = ("serious", "critical")


def chromium_path() -> str:
    found = os.environ.get("TALLY_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("TALLY_TEST_REQUIRE_BROWSER"):
        pytest.fail("TALLY_TEST_REQUIRE_BROWSER is set but no chromium is installed (apt-get install chromium)")
    pytest.skip("no chromium on this machine: apt-get install chromium (make test does it when it can)")


async def accessibility_problems(page: Page) -> list[dict[str, Any]]:
    """The serious and critical axe-core violations of the page as it is now."""
    results = await Axe().run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": [n["html"][:120] for n in v["nodes"][:3]]}
        for v in violations
        if v["impact"] in BLOCKING_IMPACTS
    ]


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
