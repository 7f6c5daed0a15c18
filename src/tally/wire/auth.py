"""Where a request's token comes from (api.md section 1).

In order: the body field ``token``, ``Authorization: Bearer``, the query parameter
``token`` (deprecated). The first one present is used; an invalid one is 401 without
falling through to the next. When the body cannot hold a ``token`` at all, the header
and the query alone decide, so the token is known (and checked) before the body is parsed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from tally.errors import Unauthorized
from tally.wire.codec import BodyKind


@dataclass(frozen=True)
class Principal:
    """Who a valid token speaks for, and what it may do."""

    account_id: int
    token_id: int
    #: Only methods that write nothing (``Method.writes`` false); the others get 403.
    read_only: bool = False


#: The principal of a token, or ``Unauthorized`` (accounts/service.py's token_authenticate).
Authenticate = Callable[[AsyncEngine, str], Awaitable[Principal]]


def may_carry_token(kind: BodyKind, body: bytes) -> bool:
    """False when the body cannot have a ``token`` parameter, told from its bytes alone.

    An XML element name is never escaped; a JSON key may be, but only with ``\\u``.
    A false positive only costs a parse.
    """
    if kind is BodyKind.EMPTY:
        return False
    return b"token" in body or (kind is BodyKind.JSON and b"\\u" in body)


def token_from(payload: Mapping[str, Any], headers: Mapping[str, str], query: Mapping[str, str]) -> str:
    if "token" in payload:
        token = payload["token"]
        if not isinstance(token, str) or not token.strip():
            raise Unauthorized("Invalid token: the token parameter must be a non-empty string")
        if not (token.isascii() and token.strip().isprintable()):
            # No token has such characters; some (lone surrogates) could not even be hashed.
            raise Unauthorized("Invalid token: unknown or revoked")
        return token.strip()
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Unauthorized("Invalid token: use the header 'Authorization: Bearer <token>'")
        return credentials.strip()
    if "token" in query:
        return query["token"].strip()
    raise Unauthorized("Missing token: pass it as the token parameter or as 'Authorization: Bearer <token>'")
