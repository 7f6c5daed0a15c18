"""What tasks/status showed of each task, remembered by an API process while it hears of
every change that could alter it, so that a poll of an unchanged task reads nothing.

A status is built from the task's row, its rows in other tables (its feedback deliveries)
and the tasks that share its dedupe key (whether one of them is active: a refresh's
``in_progress``). Migration 0019 has PostgreSQL notify ``tally_task_changes`` at the commit
of any change to those, naming the task (its id) or the key (``key:`` and the key); each
name forgets the statuses it concerns, so a poll sees a change within the notification's
delay (milliseconds), as it would have within the next read. A Presenter or a status
section that read anything else would need its own notification.

As with tokens (accounts/known_tokens.py): nothing is remembered while the listening
connection is down, every status is forgotten when it starts or stops listening, a read
that a notification of its task or its key overtook is not remembered (``heard_at``),
and no status is kept longer than ``REMEMBER_SECONDS`` in any case. SQLite has no NOTIFY,
and another process (a worker, the CLI) changes tasks there too: there every poll reads.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from tally.queue.queries import Task
from tally.store import notifications

CHANNEL = "tally_task_changes"
REMEMBER_SECONDS = 30.0
#: Statuses remembered at once; past it the oldest go (a refresh's is about 5 KB).
MAX_REMEMBERED = 5_000
#: Names whose last notification is kept, to tell which reads it overtook.
MAX_HEARD = 10_000
#: The listening connection's name in pg_stat_activity.
LISTENER = "tally task changes"

_Entry = tuple[int, str]  # (account id, task id)


def names_of(task: Task) -> list[str]:
    """The notification payloads that concern this task's status."""
    return [task.id] if task.dedupe_key is None else [task.id, f"key:{task.dedupe_key}"]


class KnownStatuses:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        #: (account, task) -> (its status data, its names, when to read it again).
        self.remembered: dict[_Entry, tuple[dict[str, Any], list[str], float]] = {}
        #: A notification's payload -> the entries it makes stale.
        self.concerned: dict[str, set[_Entry]] = {}
        #: Whether a change would reach us now; nothing is remembered otherwise.
        self.listening = False
        #: Moves on at every notification and every change of ``listening``.
        self.generation = 0
        #: A name -> the generation it was last heard at, for the last names heard.
        self.heard_at: dict[str, int] = {}
        #: No read that began before this generation is remembered (names heard before it
        #: are no longer in ``heard_at``, or listening started or stopped).
        self.reads_from = 0

    def recall(self, account_id: int, task_id: str) -> dict[str, Any] | None:
        known = self.remembered.get((account_id, task_id))
        if known is None or not self.listening or known[2] <= self.clock():
            return None
        return known[0]

    def remember(self, account_id: int, task_id: str, data: dict[str, Any], *, names: list[str], read_at: int) -> None:
        """Keep ``data`` until a notification of one of ``names`` (``names_of``), unless one
        was heard since it was read, when ``generation`` was ``read_at``: its commit may
        have come after the read. (One heard before the read began was committed before.)"""
        if not self.listening or read_at < self.reads_from:
            return
        if any(self.heard_at.get(name, -1) > read_at for name in names):
            return
        entry = (account_id, task_id)
        self._forget(entry)
        if len(self.remembered) >= MAX_REMEMBERED:
            self._forget(next(iter(self.remembered)))
        self.remembered[entry] = (data, names, self.clock() + REMEMBER_SECONDS)
        for name in names:
            self.concerned.setdefault(name, set()).add(entry)

    def heard(self, name: str) -> None:
        self.generation += 1
        self.heard_at.pop(name, None)  # kept in the order heard, oldest first
        self.heard_at[name] = self.generation
        if len(self.heard_at) > MAX_HEARD:
            oldest = next(iter(self.heard_at))
            self.reads_from = self.heard_at.pop(oldest) + 1
        for entry in self.concerned.pop(name, set()):
            self._forget(entry)

    def set_listening(self, now: bool) -> None:
        self.remembered.clear()
        self.concerned.clear()
        self.heard_at.clear()
        self.generation += 1
        self.reads_from = self.generation
        self.listening = now

    def _forget(self, entry: _Entry) -> None:
        known = self.remembered.pop(entry, None)
        if known is None:
            return
        for name in known[1]:
            entries = self.concerned.get(name)
            if entries is not None:
                entries.discard(entry)
                if not entries:
                    del self.concerned[name]

    async def listen(self, database_url: str, stop: asyncio.Event) -> None:
        """Remember statuses while LISTENing on ``tally_task_changes`` (PostgreSQL), until ``stop``."""
        await notifications.listen(
            database_url, CHANNEL, stop, heard=self.heard, listening=self.set_listening, name=LISTENER
        )
