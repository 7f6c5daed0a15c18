"""The retry policy against a real receiver: failures, 410, Retry-After, timeouts, big answers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.feedback.runner import MAX_RETRY_AFTER, parse_retry_after, retry_delay
from tally.feedback.sender import Answer
from tests.feedback.receiver import Receiver, Reply
from tests.feedback.support import refresh_with, wait_attempts, wait_feedback
from tests.helpers import Api, make_app

ONE_GIB = 1 << 30

FAILURES = {
    # name: (reply of each failing attempt, how many, what last_error says meanwhile)
    "http-500": (Reply(500), 2, "HTTP 500"),
    "timeout": (Reply(delay=3.0), 1, "no answer within 1s"),
    "redirect": (Reply(302, headers={"Location": "/elsewhere"}), 1, "HTTP 302 (redirect to '/elsewhere' not followed)"),
}


@pytest.mark.parametrize("failure", list(FAILURES))
async def test_delivered_at_attempt_k_plus_one(api: Api, receiver: Receiver, failure: str) -> None:
    reply, k, error = FAILURES[failure]
    receiver.script([reply] * k)
    task_id = await refresh_with(api, {"type": "JSON", "url": receiver.url()})

    meanwhile = await wait_attempts(api, task_id, 1)
    data = await wait_feedback(api, task_id)

    assert meanwhile == {"url": receiver.url(), "type": "JSON", "status": "pending", "attempts": 1, "last_error": error}
    assert data["feedback"][0] | {"url": ""} == {
        "url": "",
        "type": "JSON",
        "status": "delivered",
        "attempts": k + 1,
        "last_error": "",
    }
    assert [request.path for request in receiver.requests] == ["/hook"] * (k + 1)  # never /elsewhere


async def test_connection_refused_then_delivered(engine: AsyncEngine, settings: Settings) -> None:
    # The port is bound but not listening: connections are refused until listen(). A longer
    # second step leaves time to open it between attempt 2 and attempt 3.
    with Receiver(listening=False) as receiver:
        async with make_app(settings.with_(feedback_retry_schedule=(0.2, 0.8, 0.2))) as client:
            api = await Api.for_new_account(client, engine)
            task_id = await refresh_with(api, {"type": "XML", "url": receiver.url()})

            second = await wait_attempts(api, task_id, 2)
            receiver.listen()
            data = await wait_feedback(api, task_id)

    assert second["status"] == "pending"
    assert second["last_error"].startswith("connection failed: ConnectError")
    assert (data["feedback"][0]["status"], data["feedback"][0]["attempts"]) == ("delivered", 3)
    assert len(receiver.requests) == 1


async def test_retries_run_out_then_failed(api: Api, receiver: Receiver) -> None:
    receiver.script([Reply(500)] * 10)
    task_id = await refresh_with(api, {"type": "JSON", "url": receiver.url()})

    data = await wait_feedback(api, task_id)

    # The schedule has 3 delays: 4 attempts in all.
    assert data["feedback"][0] | {"url": ""} == {
        "url": "",
        "type": "JSON",
        "status": "failed",
        "attempts": 4,
        "last_error": "HTTP 500; no retries left",
    }
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 4


async def test_410_stops_at_once(api: Api, receiver: Receiver) -> None:
    receiver.script([Reply(410)])
    task_id = await refresh_with(api, {"type": "JSON", "url": receiver.url()})

    data = await wait_feedback(api, task_id)

    entry = data["feedback"][0]
    assert (entry["status"], entry["attempts"], entry["last_error"]) == (
        "failed",
        1,
        "HTTP 410: the receiver asked to stop",
    )
    await asyncio.sleep(0.3)  # longer than the schedule's delays: no second attempt came
    assert len(receiver.requests) == 1


async def test_retry_after_delays_the_next_attempt(api: Api, receiver: Receiver) -> None:
    receiver.script([Reply(503, headers={"Retry-After": "1"})])
    task_id = await refresh_with(api, {"type": "JSON", "url": receiver.url()})

    data = await wait_feedback(api, task_id)

    first, second = receiver.requests
    # The schedule alone would have retried after about 0.2 s.
    assert second.at - first.at >= 1.0
    assert (data["feedback"][0]["status"], data["feedback"][0]["attempts"]) == ("delivered", 2)


async def test_a_huge_answer_is_not_read(api: Api, receiver: Receiver) -> None:
    # 1 GiB announced and streamed as fast as the socket takes it: Tally reads a few KiB,
    # hangs up, and the delivery is done at the first attempt (reading it all would have
    # taken more than the 1 s timeout).
    receiver.script([Reply(200, stream_bytes=ONE_GIB)])
    task_id = await refresh_with(api, {"type": "JSON", "url": receiver.url()})

    started = asyncio.get_running_loop().time()
    data = await wait_feedback(api, task_id)

    assert asyncio.get_running_loop().time() - started < 5.0
    assert (data["feedback"][0]["status"], data["feedback"][0]["attempts"]) == ("delivered", 1)
    await asyncio.sleep(0.2)
    assert receiver.streamed < 64 << 20


async def test_a_huge_error_answer_is_not_read_either(api: Api, receiver: Receiver) -> None:
    receiver.script([Reply(500, stream_bytes=ONE_GIB)])
    task_id = await refresh_with(api, {"type": "JSON", "url": receiver.url()})

    data = await wait_feedback(api, task_id)

    assert (data["feedback"][0]["status"], data["feedback"][0]["attempts"]) == ("delivered", 2)
    assert receiver.streamed < 64 << 20


async def test_a_2xx_whose_body_never_ends_is_success(api: Api, receiver: Receiver) -> None:
    # The status line came in time: the stalled body does not turn it into a failure.
    receiver.script([Reply(200, stall_body=True)])
    task_id = await refresh_with(api, {"type": "JSON", "url": receiver.url()})

    data = await wait_feedback(api, task_id)

    assert (data["feedback"][0]["status"], data["feedback"][0]["attempts"]) == ("delivered", 1)
    assert len(receiver.requests) == 1


NOW = datetime(2024, 4, 17, 21, 36, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("1", 1.0),
        (" 120 ", 120.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_retry_after_is_capped_at_24_hours() -> None:
    settings = Settings()
    assert retry_delay(settings, 1, Answer(503, "999999999"), NOW) == MAX_RETRY_AFTER == 86400


def test_schedule_delays_have_jitter_around_their_step() -> None:
    settings = Settings(feedback_retry_schedule=(10.0, 100.0))
    delays = {retry_delay(settings, 2, Answer(500), NOW) for _ in range(50)}
    assert all(90.0 <= delay <= 110.0 for delay in delays)
    assert len(delays) > 1
