"""A real HTTP receiver for feedback deliveries, on a loopback address and a free port.

It records every request (path, headers, body, arrival time) and answers each one with the
next scripted ``Reply`` (then 200). It can also start "closed": the port is bound but not
listening, so connections are refused until ``listen()``. Loopback only, ever: the
constructor refuses any other address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHUNK = b"x" * 65536


@dataclass(frozen=True)
class Reply:
    """How to answer one request."""

    status: int = 200
    #: Seconds to wait before answering (aborted when the receiver closes).
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    #: Instead of ``body``: announce this many bytes and stream them until the client leaves.
    stream_bytes: int = 0
    #: Send the status line, headers and a few bytes of body, then nothing more.
    stall_body: bool = False


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.monotonic() on arrival

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    receiver: Receiver


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:
        receiver = self.server.receiver
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length)
        headers = {key.lower(): value for key, value in self.headers.items()}
        reply = receiver._arrived(Received(self.path, headers, body, time.monotonic()))
        if reply.delay and receiver._closing.wait(reply.delay):
            return
        try:
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            if reply.stall_body:
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self.wfile.write(b"partial")
                self.wfile.flush()
                receiver._closing.wait(30)
            elif reply.stream_bytes:
                self.send_header("Content-Length", str(reply.stream_bytes))
                self.end_headers()
                sent = 0
                while sent < reply.stream_bytes and not receiver._closing.is_set():
                    self.wfile.write(CHUNK)
                    sent += len(CHUNK)
                    receiver.streamed = sent
            else:
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
                self.wfile.flush()
            receiver.answered.append(reply.status)
        except OSError:
            pass  # the client gave up (timeout, cap reached): that is what some tests want
        self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Receiver:
    """``with Receiver() as receiver: ... receiver.url("/hook") ...``"""

    def __init__(self, host: str = "127.0.0.1", *, listening: bool = True, tls: ssl.SSLContext | None = None) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the test receiver listens on loopback only, not {host}")
        server_class = _Server6 if ":" in host else _Server
        self._server = server_class((host, 0), _Handler, bind_and_activate=False)
        self._server.receiver = self
        self._server.server_bind()
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.scheme = "http" if tls is None else "https"
        self.host = host
        self.port: int = self._server.server_address[1]
        self.requests: list[Received] = []
        self.streamed = 0
        #: The status of each answer sent in full (a stalled or aborted one is not here).
        self.answered: list[int] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        if listening:
            self.listen()

    def url(self, path: str = "/hook", *, host: str | None = None) -> str:
        """The URL of ``path`` here; ``host``: a name to use instead of the address."""
        host = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{self.scheme}://{host}:{self.port}{path}"

    def script(self, replies: Iterable[Reply]) -> None:
        """The answers to the next requests, in order; 200 after them."""
        with self._lock:
            self._replies.extend(replies)

    def listen(self) -> None:
        """Start accepting connections (until now they were refused)."""
        self._server.server_activate()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _arrived(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            return self._replies.popleft() if self._replies else Reply()

    async def wait_for(self, count: int, within: float = 10.0) -> list[Received]:
        """The requests once at least ``count`` arrived (the event loop keeps running)."""
        deadline = time.monotonic() + within
        while len(self.requests) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.requests)} request(s) after {within}s, expected {count}")
            await asyncio.sleep(0.01)
        return list(self.requests)

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Sentinel:
    """A listening socket on loopback that must never see a connection."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.create_server((host, port), family=family, backlog=16)
        self.sock.setblocking(False)
        self.port: int = self.sock.getsockname()[1]

    def connections(self) -> int:
        """Connections made to it so far (each is accepted and closed)."""
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1

    def close(self) -> None:
        self.sock.close()
