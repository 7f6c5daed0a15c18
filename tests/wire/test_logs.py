"""Tokens stay out of the logs: uvicorn's access log prints the query, and ``?token=`` is
still accepted (wire/logs.py). Checked on a real access-log record, then on a real server."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from uvicorn.logging import AccessFormatter
from uvicorn.protocols.utils import get_path_with_query_string

from tally.wire.logs import ACCESS_LOGGER, RedactTokens, redact_access_log, redact_query
from tests.conftest import free_port
from tests.processes import tally_processes

SECRET = "tly_" + "s3cret" * 7


@pytest.mark.parametrize(
    ("logged", "shown"),
    [
        ("/api/v1.1/databases/list?token=tly_abc", "/api/v1.1/databases/list?token=REDACTED"),
        ("/p?format=xml&token=tly_abc&x=1", "/p?format=xml&token=REDACTED&x=1"),
        ("/p?%74oken=tly_abc", "/p?%74oken=REDACTED"),
        ("/p?token=a&token=b", "/p?token=REDACTED&token=REDACTED"),
        ("/p?mytoken=1&token_id=2&Token=3", "/p?mytoken=1&token_id=2&Token=3"),
        ("/p/token=tly_abc", "/p/token=tly_abc"),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
    ],
)
def test_redact_query(logged: str, shown: str) -> None:
    assert redact_query(logged) == shown


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """What uvicorn's access logger writes, formatted as uvicorn formats it."""
    logger = logging.getLogger(ACCESS_LOGGER)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False))
    level, filters = logger.level, list(logger.filters)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.filters[:] = filters


def test_access_log_record_has_its_token_redacted(access_log: io.StringIO) -> None:
    redact_access_log()
    redact_access_log()  # installed once however many apps are created
    assert sum(isinstance(existing, RedactTokens) for existing in logging.getLogger(ACCESS_LOGGER).filters) == 1
    scope = {"raw_path": b"/api/v1.1/databases/list", "query_string": f"format=json&token={SECRET}".encode()}
    path = get_path_with_query_string(scope)  # type: ignore[arg-type]
    logging.getLogger(ACCESS_LOGGER).info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", path, "1.1", 401)
    line = access_log.getvalue()
    assert (
        line
        == '127.0.0.1:5000 - "POST /api/v1.1/databases/list?format=json&token=REDACTED HTTP/1.1" 401 Unauthorized\n'
    )


@pytest.mark.slow
def test_real_server_access_log_redacts_query_token(tmp_path: Path) -> None:
    with tally_processes(f"sqlite:///{tmp_path / 't.db'}", tmp_path) as processes:
        port = free_port()
        processes.serve(port, "--log-level", "info")
        url = f"http://127.0.0.1:{port}/api/v1.1/databases/list"
        response = httpx.post(url, params={"token": SECRET, "format": "json"})
        assert response.status_code == 401
        log = tmp_path / "tally-0-serve.log"
        deadline = time.monotonic() + 10
        while "databases/list" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = log.read_text()
    assert "POST /api/v1.1/databases/list?token=REDACTED&format=json HTTP/1.1" in text, text[-2000:]
    assert SECRET not in text
