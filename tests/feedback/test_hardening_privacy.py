"""What deliveries reveal: no internal address in tasks/status, no URL query in the log.

The names here resolve through the ``fake_dns`` table; a refused name is never connected
to, and the one delivery that is made goes to the loopback receiver.
"""

from __future__ import annotations

import logging

import pytest

from tally.feedback.guard import TargetRefused, resolve_target
from tests.feedback.receiver import Receiver
from tests.feedback.support import refresh_with, wait_feedback
from tests.helpers import Api

INTERNAL = "10.1.2.3"


#: Database drivers log each statement with its parameters at DEBUG, the stored URL too.
DRIVERS = ("aiosqlite", "psycopg", "sqlalchemy")


def _logged(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> str:
    """Every message at ``level`` or above, but the database drivers' statement traces."""
    records = [r for r in caplog.records if r.levelno >= level and not r.name.startswith(DRIVERS)]
    return "\n".join(record.getMessage() for record in records)


async def test_a_refused_name_is_not_told_what_it_resolves_to(
    fake_dns: dict[str, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    fake_dns["db.internal"] = ["93.184.216.34", INTERNAL]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(TargetRefused) as refused:
        await resolve_target("db.internal", 80)
    assert str(refused.value) == "refused: db.internal is not a public address"
    # The operator may see the detail, at DEBUG only.
    assert INTERNAL in _logged(caplog, logging.DEBUG)
    assert INTERNAL not in _logged(caplog, logging.INFO)


async def test_tasks_status_and_log_of_a_refused_delivery_name_no_address_nor_query(
    api: Api, fake_dns: dict[str, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    fake_dns["db.internal"] = [INTERNAL]
    caplog.set_level(logging.DEBUG)
    task_id = await refresh_with(api, {"type": "JSON", "url": "http://db.internal:8080/hook?token=secret123"})

    data = await wait_feedback(api, task_id)

    entry = data["feedback"][0]
    assert (entry["status"], entry["attempts"]) == ("failed", 0)
    assert entry["last_error"] == "refused: db.internal is not a public address"
    assert "feedback POST http://db.internal:8080/hook: refused: db.internal is not a public address" in _logged(
        caplog, logging.INFO
    )
    assert INTERNAL not in _logged(caplog, logging.INFO)
    assert "secret123" not in _logged(caplog)


async def test_a_delivery_logs_scheme_host_and_path_never_the_query(
    api: Api, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    url = receiver.url("/hook?token=secret123")
    task_id = await refresh_with(api, {"type": "JSON", "url": url})

    data = await wait_feedback(api, task_id)

    assert data["feedback"][0]["status"] == "delivered"
    assert receiver.requests[0].path == "/hook?token=secret123"  # the receiver gets its query
    assert "secret123" not in _logged(caplog)
    lines = [record.getMessage() for record in caplog.records if record.getMessage().startswith("feedback POST")]
    assert lines == [f"feedback POST http://127.0.0.1:{receiver.port}/hook: HTTP 200"]
