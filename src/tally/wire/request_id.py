"""A request id on every request: the client's ``X-Request-ID`` if sane, else a new one.

It is answered in ``X-Request-ID`` on every reply (413 and 415 included) and named in the
log lines and the text of internal errors, so that a client's report finds the log line.
"""

from __future__ import annotations

import re
import secrets

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tally.logs import REQUEST_ID

HEADER = "X-Request-ID"
#: An incoming id is kept only if it is this short and this plain: it goes into logs.
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")


def request_id_of(scope: Scope) -> str:
    """The id ``RequestIds`` gave this request."""
    request_id: str = scope["state"]["request_id"]
    return request_id


class RequestIds:
    """ASGI middleware giving each HTTP request its id; outermost, so every reply has it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(HEADER, "")
        request_id = incoming if _SANE.fullmatch(incoming) else secrets.token_hex(6)
        scope.setdefault("state", {})["request_id"] = request_id
        named = REQUEST_ID.set(request_id)  # every log line the request writes names it

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)  # uvicorn's access line is written in send
        finally:
            REQUEST_ID.reset(named)
