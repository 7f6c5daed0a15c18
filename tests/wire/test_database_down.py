"""A database that cannot be reached gives 503 with Retry-After, not a 500 (store/engine.py's
``is_database_unreachable``, wire/endpoint.py); its log line holds no statement values."""

from __future__ import annotations

import logging

import pytest

from tally.config import Settings
from tests.conftest import free_port
from tests.helpers import make_app
from tests.wire.support import assert_error


async def test_a_database_that_refuses_connections_gives_503_with_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    closed = free_port()  # bound and released: nothing listens there
    settings = Settings(database_url=f"postgresql+psycopg://postgres@127.0.0.1:{closed}/tally")
    async with make_app(settings, embedded_worker=False) as client:
        with caplog.at_level(logging.WARNING, logger="tally.api"):
            response = await client.post("/api/v1.1/databases/list", headers={"Authorization": "Bearer tly_secret"})
    assert_error(response, 503, "Temporarily unavailable: the database cannot be reached; retry")
    assert response.headers["retry-after"] == "1"
    [record] = [record for record in caplog.records if record.name == "tally.api"]
    assert record.levelno == logging.WARNING and "databases/list: the database is unreachable" in record.getMessage()
    assert "tly_secret" not in caplog.text and record.exc_info is None
