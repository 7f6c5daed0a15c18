"""How log lines are written: as text or as one JSON object per line, each with the request
id and the task id of the work it concerns.

The ids live in context variables: wire/request_id.py sets the request's for the whole
request (uvicorn's access line included), the worker sets the task's while it runs one.
A filter copies them onto every record, so any logger's lines carry them with no change
at the call site. TALLY_LOG_FORMAT picks the format; ``json`` is for log shippers.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from tally.config import LogFormat

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
TASK_ID: ContextVar[str | None] = ContextVar("task_id", default=None)

#: LogRecord attributes that are not extra fields of the line.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id", "task_id", "color_message"}


class WorkIds(logging.Filter):
    """Puts the current request id and task id on every record (None when there is none),
    unless the call gave its own (``extra={"task_id": ...}`` for a task not yet running)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, current in (("request_id", REQUEST_ID), ("task_id", TASK_ID)):
            if getattr(record, name, None) is None:
                setattr(record, name, current.get())
        return True


class TextFormatter(logging.Formatter):
    """``2026-12-04 19:00:00,123 INFO tally.queue: completed task ... [task=...]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{name}={value}" for name in ("request", "task") if (value := getattr(record, f"{name}_id", None))]
        return f"{line} [{' '.join(ids)}]" if ids else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the ids, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in ("request_id", "task_id"):
            if value := getattr(record, name, None):
                line[name] = value
        line.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO", log_format: LogFormat = "text") -> None:
    """One handler on the root logger, to stderr; uvicorn's loggers propagate to it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(WorkIds())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
