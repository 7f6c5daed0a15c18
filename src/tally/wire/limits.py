"""The request body's limits, enforced while reading (api.md section 1): size, time, encoding.

- **Size.** A ``Content-Length`` over the limit is refused before a byte of the body is
  read, so a client sending ``Expect: 100-continue`` never gets its ``100 Continue``. A body
  without a length (chunked) is counted as it arrives and refused as soon as it passes.
- **Time.** The whole body must arrive within ``TALLY_BODY_TIMEOUT`` of the first read: a
  client trickling a byte at a time is answered 408 instead of holding its connection.
- **Encoding.** A ``Content-Encoding`` other than ``identity`` is refused with 415 before
  the body is read. Decoding gzip would need its own bound on the output (a small body can
  inflate to gigabytes); no client of the Altcraft API compresses what it sends.

Each refusal carries ``Connection: close``: the rest of the body is never read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import ClassVar

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tally.errors import PayloadTooLarge, RequestTimeout, TallyError, UnsupportedMediaType, short_text
from tally.wire.codec import fallback_format
from tally.wire.respond import error_response


class BodyTooLarge(PayloadTooLarge):
    """Request body too large."""


class BodyTooSlow(RequestTimeout):
    """Request body too slow."""


class BodyEncoded(UnsupportedMediaType):
    """Unsupported Content-Encoding."""

    default_headers: ClassVar[Mapping[str, str]] = {"Connection": "close"}


class BodyLimit:
    """ASGI middleware refusing bodies over ``max_bytes`` (413), slower than ``timeout``
    seconds (408), or sent with a Content-Encoding (415)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(f"Request body too large: the limit is {self.max_bytes} bytes (TALLY_MAX_BODY_BYTES)")

    def _too_slow(self) -> BodyTooSlow:
        return BodyTooSlow(
            f"Request body too slow: it must arrive within {self.timeout:g} seconds (TALLY_BODY_TIMEOUT)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        encoding = headers.get(b"content-encoding", b"").decode("latin-1").strip()
        if encoding and encoding.lower() != "identity":
            text = f"Content-Encoding {short_text(encoding)!r} is not supported: send the body uncompressed"
            await self._refuse(scope, receive, send, BodyEncoded(text))
            return
        length = headers.get(b"content-length", b"").decode("latin-1").strip()
        if length.isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send, self._too_large())
            return
        received = 0
        deadline: float | None = None
        started = False

        async def limited_receive() -> Message:
            nonlocal received, deadline
            loop = asyncio.get_running_loop()
            deadline = deadline or loop.time() + self.timeout
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise self._too_slow() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large()
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except (BodyTooLarge, BodyTooSlow) as refused:
            # The API answers these itself; any other route that reads a body lands here.
            if started:
                raise
            await self._refuse(scope, receive, send, refused)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, error: TallyError) -> None:
        request = Request(scope)
        fmt = fallback_format(request.query_params.get("format"), request.headers.get("accept"))
        await error_response(error, fmt)(scope, receive, send)
