"""How a dashboard page is served: its session, its form, its template, its headers.

Every page handler takes a ``Visit`` (the request, the signed-in session and, for a POST,
the form that passed the cross-site checks) and returns a response. ``signed_in`` wraps
it: no session sends the browser to the sign-in page; an id that is unknown, another
account's or not linked gives the same 404 page; a refused form gets a page that says why.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from tally import __version__
from tally.dashboard.guard import FormRefused, check_csrf, read_form
from tally.dashboard.sessions import COOKIE, Session, session_find
from tally.dashboard.views import channel_label
from tally.errors import BadRequest, NotFound
from tally.runtime import Runtime

log = logging.getLogger("tally.dashboard")


def number(value: int) -> str:
    """12,345: thousands apart, the way the counts are read."""
    return f"{value:,}"


def signed_number(value: int) -> str:
    """+12, −3 (a real minus sign), 0."""
    return f"+{value:,}" if value > 0 else f"−{-value:,}" if value < 0 else "0"


TEMPLATES = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("tally.dashboard", "templates"),
        autoescape=select_autoescape(default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
)
TEMPLATES.env.filters.update(num=number, signed=signed_number, channel=channel_label)
TEMPLATES.env.globals["version"] = __version__

#: Scripts and everything else from Tally only. Styles may be inline: the charts' SVG
#: carries its own <style>, and the bars set their widths in a style attribute.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    # The account's numbers: not kept by the browser's cache or a proxy's.
    "Cache-Control": "no-store",
}


def secured(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def render(request: Request, template: str, context: dict[str, Any], status: int = 200) -> Response:
    return secured(TEMPLATES.TemplateResponse(request, template, context, status_code=status))


@dataclass(frozen=True)
class Visit:
    request: Request
    session: Session
    #: The fields of a POST; empty for a GET.
    form: dict[str, str]

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.request)

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        return render(self.request, template, {"session": self.session, **context}, status)

    def redirect(self, url: str) -> Response:
        """After a POST: the page to show, fetched with a GET (303), or by htmx."""
        if is_htmx(self.request):
            return secured(Response(status_code=204, headers={"HX-Redirect": url}))
        return secured(RedirectResponse(url, status_code=303))


Handler = Callable[[Visit], Awaitable[Response]]


def sign_in_redirect(request: Request) -> Response:
    if is_htmx(request):
        return secured(Response(status_code=401, headers={"HX-Redirect": "/login"}))
    return secured(RedirectResponse("/login", status_code=303))


def signed_in(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        session = await session_find(runtime_of(request).engine, request.cookies.get(COOKIE))
        if session is None:
            return sign_in_redirect(request)
        try:
            form: dict[str, str] = {}
            if request.method == "POST":
                form = await read_form(request)
                check_csrf(request, form, session.csrf_token)
            return await handler(Visit(request, session, form))
        except FormRefused as refused:
            log.warning("dashboard form refused (%s %s): %s", request.method, request.url.path, refused.text)
            return render(request, "refused.html", {"session": session, "text": refused.text}, refused.status)
        except (NotFound, BadRequest) as missing:
            # Unknown, another account's, or not linked: one page for all, which tells none apart.
            log.info("dashboard 404 for %s: %s", request.url.path, missing.text)
            return render(request, "not_found.html", {"session": session}, 404)

    return endpoint
