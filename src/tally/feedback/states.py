"""Delivery statuses.

::

    waiting ──task finishes──> pending ──2xx──> delivered
                                  │  └──410, refused, retries used up──> failed
                                  └──other failure──> pending (retried later)

``waiting`` is internal: tasks/status shows it as ``pending`` (nothing was sent yet).
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryStatus(StrEnum):
    #: Registered with its task; the task has not finished. Moved by the task's finish.
    WAITING = "waiting"
    #: Body built, a delivery job queued or scheduled for a retry. Moved by the delivery job.
    PENDING = "pending"
    #: A 2xx answer came. Final.
    DELIVERED = "delivered"
    #: Refused target, 410, or every retry used. Final; last_error says why.
    FAILED = "failed"

    @property
    def shown(self) -> str:
        return DeliveryStatus.PENDING.value if self is DeliveryStatus.WAITING else self.value
