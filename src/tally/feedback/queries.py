"""Every statement on ``feedback_deliveries`` and ``signing_secrets``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.feedback.states import DeliveryStatus
from tally.store.engine import is_sqlite
from tally.store.tables import feedback_deliveries, signing_secrets


@dataclass(frozen=True)
class Delivery:
    id: str
    task_id: str
    account_id: int
    url: str
    type: str
    status: DeliveryStatus
    attempts: int
    last_error: str
    body: bytes | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Delivery:
        return cls(
            id=row.id,
            task_id=row.task_id,
            account_id=row.account_id,
            url=row.url,
            type=row.type,
            status=DeliveryStatus(row.status),
            attempts=row.attempts,
            last_error=row.last_error,
            body=row.body,
        )

    def as_data(self) -> dict[str, Any]:
        """The entry of tasks/status's ``feedback`` list."""
        return {
            "url": self.url,
            "type": self.type,
            "status": self.status.shown,
            "attempts": self.attempts,
            "last_error": self.last_error,
        }


# delivery_register -- a waiting delivery for (task, url, type), once.
async def delivery_register(
    conn: AsyncConnection, *, task_id: str, account_id: int, url: str, type_: str, now: datetime
) -> None:
    insert = sqlite_insert if is_sqlite(conn) else pg_insert
    await conn.execute(
        insert(feedback_deliveries)
        .values(
            id=str(uuid.uuid4()),
            task_id=task_id,
            account_id=account_id,
            url=url,
            type=type_,
            status=DeliveryStatus.WAITING.value,
            attempts=0,
            last_error="",
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["task_id", "url", "type"])
    )


# delivery_list_for_task -- a task's deliveries, in the order they were asked for.
async def delivery_list_for_task(conn: AsyncConnection, task_id: str) -> list[Delivery]:
    rows = await conn.execute(_DELIVERIES_OF_TASK, {"task_id": task_id})
    return [Delivery.from_row(row) for row in rows]


# Built once: tasks/status runs it on every call (queue/queries.py says why that matters).
_DELIVERIES_OF_TASK = (
    select(feedback_deliveries)
    .where(feedback_deliveries.c.task_id == bindparam("task_id"))
    .order_by(feedback_deliveries.c.created_at, feedback_deliveries.c.id)
)


# delivery_get -- one delivery by id.
async def delivery_get(conn: AsyncConnection, delivery_id: str) -> Delivery | None:
    row = (await conn.execute(select(feedback_deliveries).where(feedback_deliveries.c.id == delivery_id))).first()
    return None if row is None else Delivery.from_row(row)


# delivery_release -- waiting -> pending, with the body that every attempt will send.
async def delivery_release(conn: AsyncConnection, delivery_id: str, body: bytes) -> None:
    await conn.execute(
        update(feedback_deliveries)
        .where(feedback_deliveries.c.id == delivery_id, feedback_deliveries.c.status == DeliveryStatus.WAITING.value)
        .values(status=DeliveryStatus.PENDING.value, body=body)
    )


# delivery_record -- pending -> pending | delivered | failed after an attempt (or a refusal).
async def delivery_record(
    conn: AsyncConnection,
    delivery_id: str,
    *,
    status: DeliveryStatus,
    attempts: int,
    last_error: str,
    now: datetime,
) -> None:
    is_final = status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)
    await conn.execute(
        update(feedback_deliveries)
        .where(feedback_deliveries.c.id == delivery_id, feedback_deliveries.c.status == DeliveryStatus.PENDING.value)
        .values(status=status.value, attempts=attempts, last_error=last_error, finished_at=now if is_final else None)
    )


# secret_list_active -- the secrets an account signs with at `now` (newest first).
async def secret_list_active(conn: AsyncConnection, account_id: int, now: datetime) -> list[str]:
    rows = await conn.execute(
        select(signing_secrets.c.secret)
        .where(
            signing_secrets.c.account_id == account_id,
            or_(signing_secrets.c.expires_at.is_(None), signing_secrets.c.expires_at > now),
        )
        .order_by(signing_secrets.c.id.desc())
    )
    return [str(secret) for secret in rows.scalars()]


# secret_add -- a new secret; the ones still active expire at `old_expire_at` (None: keep none).
async def secret_add(
    conn: AsyncConnection, account_id: int, secret: str, now: datetime, old_expire_at: datetime
) -> None:
    await conn.execute(
        update(signing_secrets)
        .where(
            signing_secrets.c.account_id == account_id,
            or_(signing_secrets.c.expires_at.is_(None), signing_secrets.c.expires_at > old_expire_at),
        )
        .values(expires_at=old_expire_at)
    )
    await conn.execute(signing_secrets.insert().values(account_id=account_id, secret=secret, created_at=now))
