"""Errors that reach the user, each with its API error code.

::

    TallyError (500)
     ├── BadRequest (400)          malformed body, missing or invalid parameter
     ├── Unauthorized (401)        token missing, unknown or revoked
     ├── NotFound (404)            database, resource, profile, task or method
     ├── MethodNotAllowed (405)    an HTTP verb other than POST
     ├── Conflict (409)            the object's state forbids the change
     ├── PayloadTooLarge (413)     the body passed TALLY_MAX_BODY_BYTES
     ├── UnsupportedMediaType (415)
     └── Unavailable (503)         shutting down

Services raise these; only the wire layer turns them into envelopes. The class docstring is
the default text. An object of another account is reported exactly like an unknown one.
"""

from __future__ import annotations

from typing import ClassVar


class TallyError(Exception):
    """Internal error."""

    code: ClassVar[int] = 500

    def __init__(self, text: str | None = None) -> None:
        self.text = text or (self.__doc__ or "").strip()
        super().__init__(self.text)


class BadRequest(TallyError):
    """Bad request."""

    code = 400


class Unauthorized(TallyError):
    """Invalid token."""

    code = 401


class NotFound(TallyError):
    """Not found."""

    code = 404


class MethodNotAllowed(TallyError):
    """Method not allowed: use POST."""

    code = 405


class Conflict(TallyError):
    """Conflict."""

    code = 409


class PayloadTooLarge(TallyError):
    """Request body too large."""

    code = 413


class UnsupportedMediaType(TallyError):
    """Unsupported content type: use application/json, application/xml or text/xml."""

    code = 415


class Unavailable(TallyError):
    """Temporarily unavailable: the server is shutting down, try again."""

    code = 503


def invalid_parameter(name: str, problem: str, value: object) -> BadRequest:
    """``Invalid parameter: resource_id must be a positive integer, got 'abc'``."""
    return BadRequest(f"Invalid parameter: {name} {problem}, got {short_repr(value)}")


def short_repr(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 5] + "...'"
