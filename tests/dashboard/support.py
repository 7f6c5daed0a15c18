"""A signed-in dashboard client on the in-process app, and what its pages hold."""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from tests.helpers import Api

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
#: Every URL a page loads or links to: src, href, action and hx-* attributes, url(...) in styles.
URL = re.compile(r"""(?:src|href|action|hx-get|hx-post)\s*=\s*["']([^"']+)["']|url\(\s*["']?([^"')]+)""")


def page_urls(html: str) -> list[str]:
    return [first or second for first, second in URL.findall(html)]


@dataclass
class Browser:
    """What a browser holds for one signed-in person: the client with its cookie, the CSRF token."""

    client: httpx.AsyncClient
    csrf: str

    async def post(
        self, path: str, fields: dict[str, str] | None = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await self.client.post(
            path,
            data={"csrf": self.csrf, **(fields or {})},
            headers={"Sec-Fetch-Site": "same-origin", **(headers or {})},
        )


async def sign_in(api: Api) -> Browser:
    """Sign in with the Api's token the way the login form does; the client keeps the cookie."""
    response = await api.client.post("/login", data={"token": api.token}, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 303 and response.headers["location"] == "/", response.text
    home = await api.client.get("/")
    assert home.status_code == 200, home.text
    found = CSRF.search(home.text)
    assert found is not None
    return Browser(api.client, found.group(1))
