"""uvicorn's h11 protocol with a deadline on each request's head.

uvicorn times out a keep-alive connection that sends nothing, but not one that sends its
request line and headers a byte at a time: 300 such clients held 300 connections for as
long as they liked. Here each request's head (the line and the headers) must be complete
within ``TALLY_HEADER_TIMEOUT`` of the connection opening or of the previous response;
otherwise the connection is closed. The body has its own deadline (wire/limits.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("tally.http")


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
