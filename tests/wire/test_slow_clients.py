"""Slow clients on a real ``tally serve``: heads and bodies have deadlines, connections a cap.

The probe of issue 12 held 300 connections by trickling bytes; with these limits a slow
head is closed, a slow body gets 408, and past the cap new requests get 503 until the slow
ones are gone. Raw sockets on 127.0.0.1, with 1-second deadlines to keep the test short.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.processes import tally_processes

DEADLINE = 1.0
CAP = 5
LIMITS = {
    "TALLY_HEADER_TIMEOUT": str(DEADLINE),
    "TALLY_BODY_TIMEOUT": str(DEADLINE),
    "TALLY_MAX_CONNECTIONS": str(CAP),
}


@pytest.fixture
def port(database_url: str, tmp_path: Path, backend: str) -> Iterator[int]:
    if backend != "sqlite":
        pytest.skip("the HTTP server's limits do not depend on the database")
    port = free_port()
    with tally_processes(database_url, tmp_path, env=LIMITS) as tally:
        tally.serve(port, "--no-worker")
        yield port


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing, or None if it still holds the connection."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        return None
    return received


def _healthz(port: int) -> int:
    with _connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        reply = _closed_within(sock, 5) or b""
    return int(reply.split(b" ", 2)[1]) if reply else 0


def test_a_head_sent_a_byte_at_a_time_is_closed_at_its_deadline(port: int) -> None:
    head = b"POST /api/v1.1/tasks/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"x" * 1000
    with _connect(port) as sock:
        started = time.monotonic()
        try:
            for byte in head:  # 1,000 bytes at 20 ms: 20 s if the server let it run
                sock.sendall(bytes([byte]))
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert _closed_within(sock, 2) == b"", "the server still holds a head that never ends"
        assert time.monotonic() - started < DEADLINE + 3
    assert _healthz(port) == 200


def test_a_slow_head_on_a_kept_alive_connection_is_closed_too(port: int) -> None:
    with _connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        first = b""
        while b'{"status":"ok"}' not in first:
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.")  # the second head, never finished
        assert _closed_within(sock, DEADLINE + 3) == b""


def test_a_body_that_trickles_gets_408_in_the_envelope(port: int) -> None:
    with _connect(port) as sock:
        sock.sendall(
            b"POST /api/v1.1/tasks/status HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        for _ in range(int(DEADLINE / 0.1) + 20):
            try:
                sock.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.1)
        reply = _closed_within(sock, 5)
    assert reply is not None and reply.startswith(b"HTTP/1.1 408"), reply
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"connection: close" in head.lower()
    envelope = json.loads(body)
    assert envelope["error"] == 408 and "TALLY_BODY_TIMEOUT" in envelope["error_text"]


def test_past_the_connection_cap_requests_get_503_until_the_slow_ones_are_gone(port: int) -> None:
    held = [_connect(port) for _ in range(CAP)]
    try:
        for sock in held:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: ")
        time.sleep(0.2)
        assert _healthz(port) == 503
        with _connect(port) as sock:
            sock.sendall(b"POST /api/v1.1/databases/list?format=xml HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            reply = _closed_within(sock, 5) or b""
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503") and b"retry-after: 1" in head.lower(), reply
        assert body.startswith(b"<?xml") and b"<error>503</error>" in body and b"TALLY_MAX_CONNECTIONS" in body, body
        time.sleep(DEADLINE + 0.5)  # their heads' deadline: the server closes them
        assert _healthz(port) == 200
    finally:
        for sock in held:
            sock.close()
