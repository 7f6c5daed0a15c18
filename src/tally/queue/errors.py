"""The one error of the task machinery that crosses modules, and how a failed step is logged."""

from __future__ import annotations

import logging

from tally.store.engine import is_database_unreachable


class LeaseLost(Exception):
    """This worker no longer holds the task's lease: another worker may be running it."""


def log_failed_step(log: logging.Logger, exc: BaseException, message: str, *args: object) -> None:
    """A step that failed and will be tried again: with its traceback, unless the database
    could not be reached (a restart, a failover), which is one line a second, not a page."""
    if is_database_unreachable(exc):
        log.warning(f"{message}: the database is unreachable (%s)", *args, type(exc).__name__)
    else:
        log.error(message, *args, exc_info=exc)
