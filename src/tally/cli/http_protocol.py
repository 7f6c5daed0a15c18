"""uvicorn's h11 protocol with a deadline on each request's head.

uvicorn times out a keep-alive connection that sends nothing, but not one that sends its
request line and headers a byte at a time: 300 such clients held 300 connections for as
long as they liked. Here each request's head (the line and the headers) must be complete
within ``TALLY_HEADER_TIMEOUT`` of the connection opening or of the previous response;
otherwise the connection is closed. The body has its own deadline (wire/limits.py).

Past ``TALLY_MAX_CONNECTIONS`` uvicorn answers a request with its own plain-text 503; here
that answer is an envelope like every other under /api (``over_the_cap``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from starlette.requests import Request
from starlette.types import Receive, Scope, Send
from uvicorn.protocols.http import h11_impl
from uvicorn.protocols.http.h11_impl import H11Protocol

from tally.errors import Unavailable
from tally.wire.codec import fallback_format
from tally.wire.respond import error_response

log = logging.getLogger("tally.http")
OVER_THE_CAP = Unavailable(
    "Temporarily unavailable: this process serves TALLY_MAX_CONNECTIONS connections already; retry",
    headers={"Retry-After": "1", "Connection": "close"},
)


async def over_the_cap(scope: Scope, receive: Receive, send: Send) -> None:
    """What a request gets past the connection cap: 503 in the format it asked for."""
    request = Request(scope, receive)
    fmt = fallback_format(request.query_params.get("format"), request.headers.get("accept"))
    await error_response(OVER_THE_CAP, fmt)(scope, receive, send)


# uvicorn picks this app by its module-level name at each request past limit_concurrency.
h11_impl.service_unavailable = over_the_cap  # type: ignore[attr-defined, assignment]


def with_head_deadline(seconds: float) -> type[H11Protocol]:
    """The protocol class to give uvicorn (``http=``), closing heads slower than ``seconds``."""

    class HeadDeadlineProtocol(H11Protocol):
        head_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the head is in: the request has begun
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self._arm()  # the next request on this connection gets the same deadline

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self.head_deadline = self.loop.call_later(seconds, self._head_too_slow)

        def _disarm(self) -> None:
            if self.head_deadline is not None:
                self.head_deadline.cancel()
                self.head_deadline = None

        def _head_too_slow(self) -> None:
            self.head_deadline = None
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
                log.info("closed the connection of %s: no complete request head in %gs", client, seconds)
                self.transport.close()

    return HeadDeadlineProtocol


def server_options(header_timeout: float, max_connections: int) -> dict[str, Any]:
    """What ``tally serve`` gives ``uvicorn.run`` beyond host and port."""
    return {"http": with_head_deadline(header_timeout), "limit_concurrency": max_connections}
