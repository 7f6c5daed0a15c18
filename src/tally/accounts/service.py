"""Creating accounts and tokens, revoking tokens, and turning a token into its account."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.errors import NotFound, Unauthorized
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import accounts, api_tokens
from tally.store.types import utcnow

TOKEN_PREFIX = "tly_"


@dataclass(frozen=True)
class NewToken:
    account_id: int
    token: str


@dataclass(frozen=True)
class RevokedToken:
    token_id: int
    account: str
    revoked_at: datetime
    #: False when the token had been revoked before (``revoked_at`` is that first moment).
    newly: bool


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def account_get_or_create(conn: AsyncConnection, name: str) -> int:
    existing = await conn.scalar(select(accounts.c.id).where(accounts.c.name == name))
    if existing is not None:
        return int(existing)
    result = await conn.execute(insert(accounts).values(name=name, created_at=utcnow()).returning(accounts.c.id))
    return int(result.scalar_one())


async def account_require(conn: AsyncConnection, name: str) -> int:
    """The id of an existing account; NotFound names it otherwise (a typo creates nothing)."""
    existing = await conn.scalar(select(accounts.c.id).where(accounts.c.name == name))
    if existing is None:
        raise NotFound(f"Account not found: {name!r}")
    return int(existing)


async def token_create(engine: AsyncEngine, account_name: str) -> NewToken:
    """Create the account if needed, and a new token for it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with write_transaction(engine) as conn:
        account_id = await account_get_or_create(conn, account_name)
        await conn.execute(
            insert(api_tokens).values(account_id=account_id, token_hash=hash_token(token), created_at=utcnow())
        )
    return NewToken(account_id=account_id, token=token)


async def token_revoke(engine: AsyncEngine, token: str) -> RevokedToken:
    """Revoke a token, found by its hash; NotFound if no token has this value.

    Revoking a revoked token changes nothing: it stays revoked since the first time.
    """
    async with write_transaction(engine) as conn:
        found = (
            await conn.execute(
                select(api_tokens.c.id, api_tokens.c.revoked_at, accounts.c.name)
                .join(accounts, accounts.c.id == api_tokens.c.account_id)
                .where(api_tokens.c.token_hash == hash_token(token))
            )
        ).one_or_none()
        if found is None:
            raise NotFound("Unknown token: no token has this value")
        if found.revoked_at is not None:
            return RevokedToken(int(found.id), found.name, found.revoked_at, newly=False)
        now = utcnow()
        await conn.execute(update(api_tokens).where(api_tokens.c.id == found.id).values(revoked_at=now))
    return RevokedToken(int(found.id), found.name, now, newly=True)


async def token_authenticate(engine: AsyncEngine, token: str) -> int:
    """The id of the account the token belongs to; 401 if it is unknown or revoked."""
    async with read_transaction(engine) as conn:
        account_id = await conn.scalar(
            select(api_tokens.c.account_id).where(
                api_tokens.c.token_hash == hash_token(token), api_tokens.c.revoked_at.is_(None)
            )
        )
    if account_id is None:
        raise Unauthorized("Invalid token: unknown or revoked")
    return int(account_id)
