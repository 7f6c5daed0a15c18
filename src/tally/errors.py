"""Errors that reach the user, each with its API error code.

::

    TallyError (500)
     ├── BadRequest (400)          malformed body, missing or invalid parameter
     ├── Unauthorized (401)        token missing, unknown or revoked
     ├── Forbidden (403)           the token's scope forbids the method (a read-only token writing)
     ├── NotFound (404)            database, resource, profile, task or method
     ├── MethodNotAllowed (405)    an HTTP verb other than POST
     ├── RequestTimeout (408)      the body did not arrive within TALLY_BODY_TIMEOUT
     ├── Conflict (409)            the object's state forbids the change
     ├── PayloadTooLarge (413)     the body passed TALLY_MAX_BODY_BYTES
     ├── UnsupportedMediaType (415) a content type or Content-Encoding Tally does not read
     └── Unavailable (503)         shutting down

Services raise these; only the wire layer turns them into envelopes. The class docstring is
the default text. An object of another account is reported exactly like an unknown one.
An error may carry HTTP headers for its reply (405's ``Allow``, a 429's ``Retry-After``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar


class TallyError(Exception):
    """Internal error."""

    code: ClassVar[int] = 500
    #: Headers every reply of this class carries; ``headers=`` adds to them.
    default_headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, text: str | None = None, *, headers: Mapping[str, str] | None = None) -> None:
        self.text = text or (self.__doc__ or "").strip()
        self.headers: dict[str, str] = {**self.default_headers, **(headers or {})}
        super().__init__(self.text)


class BadRequest(TallyError):
    """Bad request."""

    code = 400


class Unauthorized(TallyError):
    """Invalid token."""

    code = 401


class Forbidden(TallyError):
    """Forbidden: this token may not call this method."""

    code = 403


class NotFound(TallyError):
    """Not found."""

    code = 404


class MethodNotAllowed(TallyError):
    """Method not allowed: use POST."""

    code = 405
    default_headers: ClassVar[Mapping[str, str]] = {"Allow": "POST"}


class RequestTimeout(TallyError):
    """Request body too slow: it did not arrive in time."""

    code = 408
    # The rest of the body is not read: the connection cannot be reused.
    default_headers: ClassVar[Mapping[str, str]] = {"Connection": "close"}


class Conflict(TallyError):
    """Conflict."""

    code = 409


class PayloadTooLarge(TallyError):
    """Request body too large."""

    code = 413
    # The rest of the body is not read: the connection cannot be reused.
    default_headers: ClassVar[Mapping[str, str]] = {"Connection": "close"}


class UnsupportedMediaType(TallyError):
    """Unsupported content type: use application/json, application/xml or text/xml."""

    code = 415


class TooManyRequests(TallyError):
    """Too many requests: this token is over its rate limit, retry after Retry-After seconds."""

    code = 429


class Unavailable(TallyError):
    """Temporarily unavailable: the server is shutting down, try again."""

    code = 503


def invalid_parameter(name: str, problem: str, value: object) -> BadRequest:
    """``Invalid parameter: resource_id must be a positive integer, got 'abc'``."""
    return BadRequest(f"Invalid parameter: {name} {problem}, got {short_repr(value)}")


def short_text(text: str, limit: int = 80) -> str:
    """A name the client chose (a path, a content type), unquoted, at most ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_repr(value: object, limit: int = 80) -> str:
    """The value as the client sent it, at most ``limit`` characters.

    Strings are quoted (``'abc'``), ``true``/``false``/``null`` are spelt as in JSON, and
    lists and objects are shown shallowly; a longer text is cut with ``...``.
    """
    if isinstance(value, str) and len(value) > limit:
        quoted = repr(value[: max(limit - 7, 1)])
        return quoted[:-1] + "..." + quoted[-1]
    return short_text(_wire_repr(value, limit, depth=0), limit)


def _wire_repr(value: object, budget: int, depth: int) -> str:
    """Like repr(), in JSON spelling, stopping once ``budget`` characters are exceeded."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return repr(value)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            return f"<integer of {value.bit_length()} bits>"
    if isinstance(value, list | tuple | dict):
        if depth >= 4:
            return "[...]" if not isinstance(value, dict) else "{...}"
        items = value.items() if isinstance(value, dict) else value
        parts: list[str] = []
        used = 0
        for item in items:
            if used > budget:
                parts.append("...")
                break
            if isinstance(value, dict):
                key, val = item
                part = f"{_wire_repr(key, budget, depth + 1)}: {_wire_repr(val, budget, depth + 1)}"
            else:
                part = _wire_repr(item, budget, depth + 1)
            parts.append(part)
            used += len(part) + 2
        inner = ", ".join(parts)
        return "{" + inner + "}" if isinstance(value, dict) else "[" + inner + "]"
    if isinstance(value, str):
        return repr(value[: budget + 1])
    return repr(value)
