"""Hostile request bodies, sent on a raw socket to a real ``tally serve``, with the growth
of the server's peak memory each one caused.

Used by tests/wire/test_hostile.py (the replies) and bench/hostile.py (the memory table).
Peak memory is the server's ``VmHWM`` (/proc/PID/status) after the request, less its
``VmRSS`` just before, with the peak reset in between (``5`` into /proc/PID/clear_refs,
Linux 4.0 and later): what this one request made the process hold at its worst.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

MIB = 1024 * 1024
#: Writes a request to a connection (only through ``sendall``), given the token.
Send = Callable[["_Counted", str], None]
PATH = "/api/v1.1/databases/list"
#: TALLY_BODY_TIMEOUT of the server these inputs are sent to: the slow body's deadline.
BODY_TIMEOUT = 2.0


@dataclass(frozen=True)
class Reply:
    status: int
    envelope: dict[str, object]
    #: Bytes the client got onto the wire (head included) before the server closed.
    sent: int
    seconds: float


class _Counted:
    """A socket whose ``sendall`` counts the bytes it sent."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sent = 0

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)
        self.sent += len(data)


@dataclass(frozen=True)
class Hostile:
    """One hostile input: how it is sent, and the reply it must get."""

    name: str
    #: Sends the request on a connected socket (the head is written by ``send_head``).
    send: Send
    status: int
    #: A fragment the envelope's error_text must contain.
    text: str


def send_head(sock: _Counted, token: str, content_type: str, length: int | None) -> None:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    sock.sendall(
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {content_type}\r\n{framing}\r\nConnection: close\r\n\r\n".encode()
    )


def body(content_type: str, make: Callable[[], bytes]) -> Callable[[_Counted, str], None]:
    """A whole body with its Content-Length (built when sent, not at import)."""

    def send(sock: _Counted, token: str) -> None:
        data = make()
        send_head(sock, token, content_type, len(data))
        _send_until_closed(sock, [data])

    return send


def streamed(total: int, chunk: int = MIB) -> Callable[[_Counted, str], None]:
    """``total`` bytes of JSON string, chunked, with no length announced."""

    def send(sock: _Counted, token: str) -> None:
        send_head(sock, token, "application/json", None)
        piece = b"x" * chunk
        chunks = (f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for _ in range(total // chunk))
        _send_until_closed(sock, chunks)

    return send


def announced(total: int) -> Callable[[_Counted, str], None]:
    """A Content-Length of ``total``, then the bytes, for as long as the server reads them."""

    def send(sock: _Counted, token: str) -> None:
        send_head(sock, token, "application/json", total)
        _send_until_closed(sock, (b"x" * MIB for _ in range(total // MIB)))

    return send


def trickle(sock: _Counted, token: str) -> None:
    """A 1,000-byte body sent a byte every 100 ms: past TALLY_BODY_TIMEOUT long before the end."""
    send_head(sock, token, "application/json", 1000)
    _send_until_closed(sock, _every(0.1, b" ", 1000))


def _every(seconds: float, piece: bytes, count: int) -> Iterator[bytes]:
    for _ in range(count):
        yield piece
        time.sleep(seconds)


def _send_until_closed(sock: _Counted, pieces: Iterator[bytes] | list[bytes]) -> None:
    for piece in pieces:
        try:
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return  # the server answered and closed: the reply is waiting to be read


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return f'<?xml version="1.0"?><!DOCTYPE xml [{"".join(entities)}]><xml><a>&lol9;</a></xml>'.encode()


def quadratic_blowup() -> bytes:
    big = "x" * 100_000
    return f'<!DOCTYPE xml [<!ENTITY big "{big}">]><xml><a>{"&big;" * 50_000}</a></xml>'.encode()


def nested_json(depth: int) -> bytes:
    return b'{"a": ' + b"[" * depth + b"]" * depth + b"}"


def nested_xml(depth: int) -> bytes:
    return b"<xml>" + b"<a>" * depth + b"</a>" * depth + b"</xml>"


CATALOGUE = [
    Hostile("billion laughs (XML entities, 10^9 'lol')", body("application/xml", billion_laughs), 400, "Malformed XML"),
    Hostile(
        "quadratic blowup (100 KB entity x 50,000)", body("application/xml", quadratic_blowup), 400, "Malformed XML"
    ),
    Hostile(
        "external entity (file:///etc/passwd)",
        body(
            "application/xml", lambda: b'<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><a>&e;</a></xml>'
        ),
        400,
        "Malformed XML",
    ),
    Hostile("a DTD alone", body("application/xml", lambda: b"<!DOCTYPE xml><xml><a>1</a></xml>"), 400, "Malformed XML"),
    Hostile("JSON nested 100,000 deep", body("application/json", lambda: nested_json(100_000)), 400, "nest"),
    Hostile("XML nested 100,000 deep", body("application/xml", lambda: nested_xml(100_000)), 400, "nest"),
    Hostile(
        "JSON with 4 million values (8 MB)",
        body("application/json", lambda: b"[" + b"0," * 4_000_000 + b"0]"),
        400,
        "values",
    ),
    Hostile(
        "XML with 2 million elements (8 MB)",
        body("application/xml", lambda: b"<xml>" + b"<a/>" * 2_000_000 + b"</xml>"),
        400,
        "elements",
    ),
    Hostile("100 MB body announced by Content-Length", announced(100 * MIB), 413, "too large"),
    Hostile("100 MB body streamed in chunks", streamed(100 * MIB), 413, "too large"),
    Hostile("slow body (a byte every 100 ms)", trickle, 408, "TALLY_BODY_TIMEOUT"),
    Hostile("invalid UTF-8 in JSON", body("application/json", lambda: b'{"name": "\xff\xfe"}'), 400, "UTF-8"),
    Hostile("invalid UTF-8 in XML", body("application/xml", lambda: b"<xml><name>\xff\xfe</name></xml>"), 400, "UTF-8"),
]


def exchange(port: int, send: Send, token: str) -> Reply:
    """Send one request, read the reply until the server closes, decode its JSON envelope."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        counted = _Counted(sock)
        send(counted, token)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, content = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        content = _unchunk(content)
    return Reply(status, json.loads(content), counted.sent, time.perf_counter() - started)


def _unchunk(content: bytes) -> bytes:
    out = b""
    while content:
        size_line, _, rest = content.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out, content = out + rest[:size], rest[size + 2 :]
    return out


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(f"{field} not in /proc/{pid}/status")


def with_peak_growth(pid: int, request: Callable[[], Reply]) -> tuple[Reply, float]:
    """The reply, and how many MiB over its resident size the process peaked at meanwhile."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    before = _status_kib(pid, "VmRSS")
    reply = request()
    return reply, max(_status_kib(pid, "VmHWM") - before, 0) / 1024
