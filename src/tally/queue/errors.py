"""The one error of the task machinery that crosses modules."""

from __future__ import annotations


class LeaseLost(Exception):
    """This worker no longer holds the task's lease: another worker may be running it."""
