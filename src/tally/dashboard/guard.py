"""What keeps another site from posting the dashboard's forms, and reads what they post.

Two checks, either of which stops a cross-site request on its own:

- the browser says where a POST comes from: ``Sec-Fetch-Site`` (every current browser), or
  else ``Origin``; a POST from another site, or with neither header, is refused before
  anything else is read (the sign-in form, which has no session yet, relies on this);
- every form of a signed-in page carries the session's CSRF token (a hidden field, or the
  ``X-CSRF-Token`` header htmx sends), compared in constant time.

The session cookie is SameSite=Strict besides, so a cross-site request carries no session.
"""

from __future__ import annotations

import secrets
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request

#: A dashboard form is a few short fields; a body longer than this is not one of them.
MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 20
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"


class FormRefused(Exception):
    """A POST the dashboard does not take; the text says why (shown on a 4xx page)."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def is_cross_site(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site not in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        # Every browser sends one of the two on a POST; a form that has neither is not
        # known to come from Tally's own page (a login CSRF from an old browser, say).
        return True
    # Host alone: behind a TLS-terminating proxy the scheme this process sees may differ.
    return origin == "null" or urlsplit(origin).netloc != request.headers.get("host", "")


async def read_form(request: Request) -> dict[str, str]:
    """The urlencoded fields of a POST (the last value of a repeated one), bounded in size."""
    if is_cross_site(request):
        raise FormRefused(403, "This form was posted from another site (or by no browser), so Tally did not take it.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("", "application/x-www-form-urlencoded"):
        raise FormRefused(415, "Forms are sent as application/x-www-form-urlencoded.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise FormRefused(413, f"A form is at most {MAX_FORM_BYTES // 1024} KiB.")
    try:
        fields = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        raise FormRefused(400, "The form could not be read (not UTF-8, or too many fields).") from None
    return dict(fields)


def check_csrf(request: Request, form: dict[str, str], expected: str) -> None:
    sent = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
    if not secrets.compare_digest(sent.encode(), expected.encode()):
        raise FormRefused(403, "This form is out of date or was not sent from Tally's own page: reload and retry.")
