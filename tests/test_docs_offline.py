"""/docs and /redoc load everything from Tally itself: nothing from another host."""

from __future__ import annotations

import re

import pytest

from tally.config import Settings
from tests.helpers import make_app

#: Every URL a page loads or links to: src and href attributes, and url(...) in styles.
URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""")


def _urls(html: str) -> list[str]:
    return [first or second for first, second in URL.findall(html)]


@pytest.mark.parametrize(("page", "assets"), [("/docs", 3), ("/redoc", 2)])
async def test_the_api_docs_load_only_from_tally(settings: Settings, page: str, assets: int) -> None:
    async with make_app(settings, embedded_worker=False) as client:
        response = await client.get(page)
        assert response.status_code == 200
        html = response.text
        assert "fonts.googleapis" not in html and "cdn.jsdelivr" not in html
        urls = _urls(html)
        assert len(urls) >= assets, urls
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), f"{page} loads {url} from elsewhere"
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000, url  # the real file, not an error page
        assert "/openapi.json" in html
        schema = await client.get("/openapi.json")
        assert schema.status_code == 200 and "databases/refresh_counters" in str(schema.json()["paths"])


def test_the_pattern_finds_external_urls() -> None:
    """The check above cannot pass by finding nothing: it sees a CDN link when there is one."""
    page = '<link href="https://cdn.jsdelivr.net/x.css"><script src="/ok.js"></script>'
    assert _urls(page) == ["https://cdn.jsdelivr.net/x.css", "/ok.js"]
