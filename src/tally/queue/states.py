"""Task statuses and the transitions between them.

::

    queued ──claim──> processing ──complete──> completed
       ^                  │  └──────fail─────> error
       └──lease expired───┘  (attempts left; otherwise error)

Every transition is one UPDATE in queue/queries.py whose WHERE names the allowed
from-status and, for a running task, the lease owner.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    #: Waiting for a worker; a worker's claim moves it to processing.
    QUEUED = "queued"
    #: Held by the worker named in lease_owner until lease_expires_at. The worker moves it
    #: to completed or error; the reaper moves it back to queued when the lease expires.
    PROCESSING = "processing"
    #: Finished with a result. Final; purged after the retention period.
    COMPLETED = "completed"
    #: Finished without a result; error_text says why. Final; purged likewise.
    ERROR = "error"


ACTIVE_STATUSES = (TaskStatus.QUEUED.value, TaskStatus.PROCESSING.value)
