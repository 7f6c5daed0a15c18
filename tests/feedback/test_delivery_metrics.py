"""Feedback attempts on /metrics (feedback/runner.py): each attempt by what it led to."""

from __future__ import annotations

from tests.feedback.receiver import Receiver, Reply
from tests.feedback.support import refresh_with, wait_feedback
from tests.helpers import Api
from tests.metrics.test_metrics import scrape, value

ATTEMPTS = "tally_feedback_attempts_total"


async def test_a_retried_then_delivered_and_a_refused_delivery_are_counted(api: Api, receiver: Receiver) -> None:
    before = await scrape(api.client)
    receiver.script([Reply(503), Reply(200), Reply(410)])
    retried = await refresh_with(api, {"type": "JSON", "url": receiver.url("/first")})
    assert (await wait_feedback(api, retried))["feedback"][0]["status"] == "delivered"
    stopped = await refresh_with(api, {"type": "JSON", "url": receiver.url("/second")})
    assert (await wait_feedback(api, stopped))["feedback"][0]["status"] == "failed"
    after = await scrape(api.client)
    for outcome, more in (("retry", 1), ("delivered", 1), ("failed", 1)):
        assert value(after, ATTEMPTS, outcome=outcome) == value(before, ATTEMPTS, outcome=outcome) + more, outcome
