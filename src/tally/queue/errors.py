"""Errors of the task machinery."""

from __future__ import annotations

from tally.errors import NotFound


class TaskNotFound(NotFound):
    """Task not found"""


class LeaseLost(Exception):
    """This worker no longer holds the task's lease: another worker may be running it."""


class TaskFailed(Exception):
    """A task that cannot succeed however often it is retried; the text is its error_text."""
