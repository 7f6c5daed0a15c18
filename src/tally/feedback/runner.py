"""The delivery job: one attempt per run, rescheduled by the retry policy."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.config import Settings
from tally.feedback import queries
from tally.feedback.guard import TargetRefused
from tally.feedback.queries import Delivery
from tally.feedback.sender import Answer, post
from tally.feedback.signing import signature_headers
from tally.feedback.states import DeliveryStatus
from tally.queue.execution import Execution, Finish, RetryLater
from tally.store.engine import read_transaction

KIND = "feedback_delivery"
MAX_RETRY_AFTER = 24 * 3600.0
CONTENT_TYPES = {"JSON": "application/json", "XML": "application/xml; charset=utf-8"}


DELIVERY_ATTEMPTS = Counter(
    "tally_feedback_attempts",
    "Feedback delivery attempts by what they led to: delivered, retry (another attempt is due) or failed",
    ["outcome"],
)


def _record(delivery: Delivery, status: DeliveryStatus, attempts: int, last_error: str) -> Finish:
    async def finish(conn: AsyncConnection, now: datetime) -> Any:
        await queries.delivery_record(
            conn, delivery.id, status=status, attempts=attempts, last_error=last_error, now=now
        )
        DELIVERY_ATTEMPTS.labels("retry" if status is DeliveryStatus.PENDING else status.value).inc()
        return {"delivery_id": delivery.id, "status": status.value}

    return finish


def retry_delay(settings: Settings, attempts: int, answer: Answer, now: datetime) -> float:
    """The receiver's ``Retry-After`` (capped at 24 h), else the schedule's next step ±10 %."""
    asked = parse_retry_after(answer.retry_after, now)
    if asked is not None:
        return min(asked, MAX_RETRY_AFTER)
    step = settings.feedback_retry_schedule[attempts - 1]
    return step * random.uniform(0.9, 1.1)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a ``Retry-After`` value: delay-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max((moment - now).total_seconds(), 0.0)


async def run_delivery(execution: Execution) -> Finish:
    """POST the delivery's body once; decide delivered, failed or a retry."""
    settings = execution.settings
    async with read_transaction(execution.engine) as conn:
        delivery = await queries.delivery_get(conn, execution.task.params["delivery_id"])
        if delivery is None or delivery.status is not DeliveryStatus.PENDING or delivery.body is None:

            async def nothing(conn: AsyncConnection, now: datetime) -> Any:
                return None

            return nothing
        now = execution.clock()
        secrets = await queries.secret_list_active(conn, delivery.account_id, now)
    headers = {
        "content-type": CONTENT_TYPES[delivery.type],
        **signature_headers(delivery.id, now, delivery.body, secrets),
    }
    try:
        answer = await post(
            delivery.url,
            delivery.body,
            headers,
            time_limit=settings.feedback_timeout,
            allowed=settings.feedback_allowed_networks,
        )
    except TargetRefused as refused:
        return _record(delivery, DeliveryStatus.FAILED, delivery.attempts, str(refused))
    attempts = delivery.attempts + 1
    if answer.is_success:
        return _record(delivery, DeliveryStatus.DELIVERED, attempts, "")
    if answer.status == 410:
        return _record(delivery, DeliveryStatus.FAILED, attempts, "HTTP 410: the receiver asked to stop")
    if attempts > len(settings.feedback_retry_schedule):
        return _record(delivery, DeliveryStatus.FAILED, attempts, f"{answer.error}; no retries left")
    delay = retry_delay(settings, attempts, answer, execution.clock())
    raise RetryLater(delay, _record(delivery, DeliveryStatus.PENDING, attempts, answer.error))
