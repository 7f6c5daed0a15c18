"""Keeping tokens out of the logs: uvicorn's access log prints the query string, and a
token may come as ``?token=`` (deprecated, still accepted)."""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus

ACCESS_LOGGER = "uvicorn.access"
REDACTED = "REDACTED"
# One query parameter: its name (as sent, maybe percent-encoded) and its value.
_PARAMETER = re.compile(r"(?<=[?&])([^&=#\s]*)=([^&#\s]*)")


def redact_query(text: str) -> str:
    """``/p?a=1&token=secret`` as ``/p?a=1&token=REDACTED``; text without a query is kept."""
    path, mark, query = text.partition("?")
    if not mark:
        return text
    return path + _PARAMETER.sub(_redact_token, mark + query)


def _redact_token(match: re.Match[str]) -> str:
    # Starlette decodes names: ``%74oken`` is read as the token too.
    if unquote_plus(match.group(1)) == "token":
        return f"{match.group(1)}={REDACTED}"
    return match.group(0)


class RedactTokens(logging.Filter):
    """Rewrites the arguments of each record (the access log's path) with tokens redacted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


def redact_access_log() -> None:
    """Install ``RedactTokens`` on uvicorn's access logger, once per process."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(existing, RedactTokens) for existing in logger.filters):
        logger.addFilter(RedactTokens())
