"""Registering feedback with a task, releasing deliveries when it finishes, and secrets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.accounts.service import account_get_or_create, account_require
from tally.feedback import queries
from tally.feedback.runner import KIND
from tally.feedback.signing import new_secret
from tally.feedback.states import DeliveryStatus
from tally.queue.queries import Task, task_insert
from tally.queue.registry import TaskEnded
from tally.queue.states import TaskStatus
from tally.store.engine import write_transaction
from tally.store.types import utcnow
from tally.tasks.status import status_data
from tally.wire.codec import Format, encode, success_envelope


async def release_deliveries(ended: TaskEnded) -> None:
    """When a task ends, build the payload of each of its waiting deliveries and queue its job.

    Runs in the transaction that ends the task: if the end commits, the deliveries will be
    made; a crash before the commit loses neither. Each delivery job is a child of the task,
    which is therefore kept (not purged) until its deliveries are final.
    """
    conn, task = ended.conn, ended.task
    if task.kind == KIND:
        return  # a delivery job has no deliveries of its own
    waiting = [d for d in await queries.delivery_list_for_task(conn, task.id) if d.status is DeliveryStatus.WAITING]
    if not waiting:
        return
    envelope = success_envelope(await status_data(conn, task, ended.registry))
    for delivery in waiting:
        body = encode(envelope, Format.XML if delivery.type == "XML" else Format.JSON)
        await queries.delivery_release(conn, delivery.id, body)
        await task_insert(
            conn,
            account_id=delivery.account_id,
            kind=KIND,
            params={"delivery_id": delivery.id},
            now=ended.now,
            parent_id=task.id,
        )


async def fail_delivery_of_failed_job(ended: TaskEnded) -> None:
    """A delivery job that ended in error (its workers kept dying, or it crashed) fails its
    delivery: otherwise the delivery would show ``pending`` for ever with nothing to move it.
    """
    conn, task, now = ended.conn, ended.task, ended.now
    if task.kind != KIND or task.status is not TaskStatus.ERROR:
        return
    delivery = await queries.delivery_get(conn, str(task.params.get("delivery_id")))
    if delivery is not None and delivery.status is DeliveryStatus.PENDING:
        await queries.delivery_record(
            conn,
            delivery.id,
            status=DeliveryStatus.FAILED,
            attempts=delivery.attempts,
            last_error=f"delivery stopped: {task.error_text}",
            now=now,
        )


async def deliveries_section(conn: AsyncConnection, task: Task) -> dict[str, Any]:
    """tasks/status's ``feedback``: the task's deliveries, when it has any."""
    deliveries = await queries.delivery_list_for_task(conn, task.id)
    return {"feedback": [delivery.as_data() for delivery in deliveries]} if deliveries else {}


async def secret_create(
    engine: AsyncEngine, account_name: str, *, grace: timedelta, create_account: bool = True
) -> str:
    """A new signing secret for the account; the previous ones keep signing for ``grace``.

    The account is created if needed, as a token's is, unless ``create_account`` is False
    (a rotation, which presumes the account): then an unknown name is NotFound.
    """
    secret = new_secret()
    now = utcnow()
    async with write_transaction(engine) as conn:
        find_account = account_get_or_create if create_account else account_require
        account_id = await find_account(conn, account_name)
        await queries.secret_add(conn, account_id, secret, now, old_expire_at=now + grace)
    return secret
