"""The request body limit, enforced while reading (api.md section 1).

A ``Content-Length`` over the limit is refused before a byte of the body is read, so a
client sending ``Expect: 100-continue`` never gets its ``100 Continue``. A body without a
length (chunked) is counted as it arrives and refused as soon as it passes the limit.
Either way the answer carries ``Connection: close``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tally.errors import PayloadTooLarge
from tally.wire.codec import fallback_format
from tally.wire.respond import error_response


class BodyTooLarge(PayloadTooLarge):
    """Request body too large."""


class BodyLimit:
    """ASGI middleware refusing bodies over ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _error(self) -> BodyTooLarge:
        return BodyTooLarge(f"Request body too large: the limit is {self.max_bytes} bytes (TALLY_MAX_BODY_BYTES)")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length", b"").decode("latin-1").strip()
        if length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._error()
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge:
            # The API answers this itself; any other route that reads a body lands here.
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope)
        fmt = fallback_format(request.query_params.get("format"), request.headers.get("accept"))
        await error_response(self._error(), fmt)(scope, receive, send)
