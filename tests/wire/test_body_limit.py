"""The request body limit (api.md section 1) against a real ``tally serve`` process.

The server runs with TALLY_MAX_BODY_BYTES=1024. Raw sockets show what a client on the
wire sees: the status line, ``Connection: close``, and no ``100 Continue``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.wire.conftest import MAX_BODY_BYTES, LiveServer
from tests.wire.support import assert_error, is_xml

pytestmark = pytest.mark.slow

TOO_LARGE = f"Request body too large: the limit is {MAX_BODY_BYTES} bytes (TALLY_MAX_BODY_BYTES)"
PATH = "/api/v1.1/databases/list"


def _body(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes (with an unknown token: 401 when read)."""
    start = b'{"token": "tly_unknown", "pad": "'
    return start + b"x" * (size - len(start) - 2) + b'"}'


def _exchange(server: LiveServer, request: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, then read until the server closes the connection."""
    with socket.create_connection((server.host, server.port), timeout=timeout) as sock:
        sock.sendall(request)
        return _read_all(sock)


def _read_all(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def _head(server: LiveServer, extra: str) -> bytes:
    return f"POST {PATH} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n{extra}\r\n".encode()


def _split(response: bytes) -> tuple[str, dict[str, str], bytes]:
    head, _, body = response.partition(b"\r\n\r\n")
    status, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def test_body_limit_exact_size_is_read(live_server: LiveServer) -> None:
    body = _body(MAX_BODY_BYTES)
    assert len(body) == MAX_BODY_BYTES
    response = httpx.post(live_server.url + PATH, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 401, "Invalid token: unknown or revoked")


def test_body_limit_content_length_over_is_413_and_close(live_server: LiveServer) -> None:
    body = _body(MAX_BODY_BYTES + 1)
    response = httpx.post(live_server.url + PATH, content=body, headers={"Content-Type": "application/json"})
    assert_error(response, 413, TOO_LARGE)
    assert response.headers["connection"] == "close"


def test_body_limit_413_uses_query_format(live_server: LiveServer) -> None:
    response = httpx.post(
        live_server.url + PATH + "?format=xml", content=_body(5000), headers={"Content-Type": "application/json"}
    )
    assert is_xml(response)
    assert_error(response, 413, TOO_LARGE)


def test_body_limit_413_uses_accept(live_server: LiveServer) -> None:
    headers = {"Content-Type": "text/xml", "Accept": "application/xml"}
    response = httpx.post(live_server.url + PATH, content=b"<xml>" + b" " * 5000 + b"</xml>", headers=headers)
    assert is_xml(response)
    assert_error(response, 413, TOO_LARGE)


def test_body_limit_413_on_unknown_method(live_server: LiveServer) -> None:
    response = httpx.post(live_server.url + "/api/v1.1/x/y", content=_body(2000))
    assert_error(response, 413, TOO_LARGE)


def test_body_limit_content_length_over_on_raw_socket_closes(live_server: LiveServer) -> None:
    body = _body(2000)
    head = _head(live_server, f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n")
    status, headers, answer = _split(_exchange(live_server, head + body))
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert headers["connection"] == "close"
    assert json.loads(answer) == {"error": 413, "error_text": TOO_LARGE}


def _chunked(body: bytes, size: int) -> bytes:
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


def test_body_limit_chunked_over_is_413(live_server: LiveServer) -> None:
    head = _head(live_server, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n")
    status, headers, answer = _split(_exchange(live_server, head + _chunked(_body(2500), 400)))
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert headers["connection"] == "close"
    assert json.loads(answer) == {"error": 413, "error_text": TOO_LARGE}


def test_body_limit_chunked_under_is_read(live_server: LiveServer) -> None:
    head = _head(live_server, "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n")
    status, _, answer = _split(_exchange(live_server, head + _chunked(_body(MAX_BODY_BYTES), 300)))
    assert status == "HTTP/1.1 401 Unauthorized"
    assert json.loads(answer)["error"] == 401


def test_body_limit_chunked_over_with_httpx_stream_is_413(live_server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b" " * 300

    response = httpx.post(live_server.url + PATH, content=chunks(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_error(response, 413, TOO_LARGE)


def test_body_limit_expect_continue_over_is_413_without_continue(live_server: LiveServer) -> None:
    head = _head(live_server, "Content-Type: application/json\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n")
    with socket.create_connection((live_server.host, live_server.port), timeout=5.0) as sock:
        sock.sendall(head)  # and never the body: the client waits for 100 Continue
        received = _read_all(sock)
    assert b"100 Continue" not in received
    status, headers, answer = _split(received)
    assert status == "HTTP/1.1 413 Request Entity Too Large"
    assert headers["connection"] == "close"
    assert json.loads(answer) == {"error": 413, "error_text": TOO_LARGE}


def test_body_limit_expect_continue_under_gets_continue(live_server: LiveServer) -> None:
    body = _body(500)
    extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n"
    with socket.create_connection((live_server.host, live_server.port), timeout=5.0) as sock:
        sock.sendall(_head(live_server, extra + "Connection: close\r\n"))
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        sock.sendall(body)
        received = _read_all(sock)
    status, _, answer = _split(interim.partition(b"\r\n\r\n")[2] + received)
    assert status == "HTTP/1.1 401 Unauthorized"
    assert json.loads(answer)["error"] == 401
