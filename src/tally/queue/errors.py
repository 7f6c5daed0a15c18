"""Errors of the task machinery."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tally.errors import NotFound

if TYPE_CHECKING:
    from tally.queue.worker import Finish


class TaskNotFound(NotFound):
    """Task not found"""


class LeaseLost(Exception):
    """This worker no longer holds the task's lease: another worker may be running it."""


class TaskFailed(Exception):
    """A task that cannot succeed however often it is retried; the text is its error_text."""


class RetryLater(Exception):
    """Run the task again after ``delay`` seconds; ``finish`` records this try meanwhile.

    ``finish`` is called in the transaction that puts the task back in the queue, like the
    Finish of a completed run.
    """

    def __init__(self, delay: float, finish: Finish) -> None:
        super().__init__(f"retry in {delay:g}s")
        self.delay = delay
        self.finish = finish
