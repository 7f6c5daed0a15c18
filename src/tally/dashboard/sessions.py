"""Signing in to the dashboard with an API token, and finding the session a cookie names.

The cookie holds a random session id (256 bits) and nothing else; the database keeps its
SHA-256 hash, like a token's. A signed cookie would be as hard to forge, but a session kept
in the database can be ended: signing out deletes it, revoking its token ends it at once,
and every API process on PostgreSQL sees the same sessions with no secret to share.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.accounts.service import hash_token
from tally.config import Settings
from tally.dashboard import queries
from tally.errors import Unauthorized
from tally.store.engine import read_transaction, write_transaction
from tally.store.types import utcnow

COOKIE = "tally_session"
#: A token is a few dozen characters; anything much longer is not one (and is not hashed).
MAX_TOKEN_LENGTH = 200


@dataclass(frozen=True)
class Session:
    account_id: int
    account_name: str
    #: Every form this session posts carries it back (dashboard/guard.py).
    csrf_token: str
    #: Opened with a read-only token: it may refresh (as the API lets it) but not change schedules.
    read_only: bool = False


@dataclass(frozen=True)
class Opened:
    cookie: str
    session: Session
    expires_at: datetime


async def session_open(engine: AsyncEngine, token: str, settings: Settings) -> Opened:
    """A new session for a live token; Unauthorized, without saying more, otherwise."""
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise Unauthorized("unknown or revoked token")
    cookie, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    expires_at = now + timedelta(hours=settings.dashboard_session_hours)
    async with write_transaction(engine) as conn:
        found = await queries.token_find(conn, hash_token(token))
        if found is None:
            raise Unauthorized("unknown or revoked token")
        await queries.session_insert(
            conn,
            id_hash=hash_token(cookie),
            token_id=found.id,
            account_id=found.account_id,
            csrf_token=csrf_token,
            now=now,
            expires_at=expires_at,
        )
    session = Session(found.account_id, found.account_name, csrf_token, bool(found.read_only))
    return Opened(cookie, session, expires_at)


async def session_find(engine: AsyncEngine, cookie: str | None) -> Session | None:
    if not cookie or len(cookie) > MAX_TOKEN_LENGTH or not cookie.isascii():
        return None
    async with read_transaction(engine) as conn:
        found = await queries.session_find(conn, hash_token(cookie), utcnow())
    return None if found is None else Session(found.account_id, found.name, found.csrf_token, bool(found.read_only))


async def session_close(engine: AsyncEngine, cookie: str | None) -> None:
    if cookie and len(cookie) <= MAX_TOKEN_LENGTH and cookie.isascii():
        async with write_transaction(engine) as conn:
            await queries.session_delete(conn, hash_token(cookie))


async def purge_sessions(conn: AsyncConnection, now: datetime, settings: Settings) -> None:
    """The maintenance pass: forget expired sessions."""
    await queries.sessions_purge(conn, now)
