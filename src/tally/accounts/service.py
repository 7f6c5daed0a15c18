"""Creating accounts and tokens, listing and revoking tokens, and turning a token into
the principal it speaks for."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from tally.errors import NotFound, Unauthorized
from tally.store.engine import is_sqlite, read_statements, read_transaction, write_transaction
from tally.store.tables import accounts, api_tokens
from tally.store.types import utcnow
from tally.wire.auth import Principal

TOKEN_PREFIX = "tly_"
#: The channel a revocation notifies (accounts/known_tokens.py listens on it).
REVOCATIONS = "tally_tokens"
#: Characters of a token kept in clear to tell tokens apart: "tly_" and 8 random ones.
SHOWN_PREFIX = len(TOKEN_PREFIX) + 8
#: A token's last use is written at most this often: a read stays a read between.
LAST_USED_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class NewToken:
    account_id: int
    token: str


@dataclass(frozen=True)
class TokenInfo:
    """A token as `tally token list` shows it: never the token itself."""

    id: int
    account: str
    #: None for a token made before Tally kept prefixes (migration 0017).
    prefix: str | None
    read_only: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


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


async def token_create(engine: AsyncEngine, account_name: str, *, read_only: bool = False) -> NewToken:
    """Create the account if needed, and a new token for it."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with write_transaction(engine) as conn:
        account_id = await account_get_or_create(conn, account_name)
        await conn.execute(
            insert(api_tokens).values(
                account_id=account_id,
                token_hash=hash_token(token),
                prefix=token[:SHOWN_PREFIX],
                read_only=read_only,
                created_at=utcnow(),
            )
        )
    return NewToken(account_id=account_id, token=token)


async def token_list(engine: AsyncEngine, account_name: str | None = None) -> list[TokenInfo]:
    """Every token, or one account's, oldest first."""
    query = (
        select(api_tokens, accounts.c.name.label("account"))
        .join(accounts, accounts.c.id == api_tokens.c.account_id)
        .order_by(api_tokens.c.id)
    )
    if account_name is not None:
        query = query.where(accounts.c.name == account_name)
    async with read_transaction(engine) as conn:
        rows = (await conn.execute(query)).all()
    return [
        TokenInfo(
            row.id, row.account, row.prefix, bool(row.read_only), row.created_at, row.last_used_at, row.revoked_at
        )
        for row in rows
    ]


async def token_revoke(engine: AsyncEngine, token: str | None = None, *, token_id: int | None = None) -> RevokedToken:
    """Revoke a token, found by its value (its hash) or by its id; NotFound if none matches.

    Revoking a revoked token changes nothing: it stays revoked since the first time.
    """
    where = api_tokens.c.id == token_id if token is None else api_tokens.c.token_hash == hash_token(token)
    async with write_transaction(engine) as conn:
        found = (
            await conn.execute(
                select(api_tokens.c.id, api_tokens.c.revoked_at, accounts.c.name)
                .join(accounts, accounts.c.id == api_tokens.c.account_id)
                .where(where)
            )
        ).one_or_none()
        if found is None:
            raise NotFound("Unknown token: no token has this value" if token is not None else f"No token {token_id}")
        if found.revoked_at is not None:
            return RevokedToken(int(found.id), found.name, found.revoked_at, newly=False)
        now = utcnow()
        await conn.execute(update(api_tokens).where(api_tokens.c.id == found.id).values(revoked_at=now))
        if not is_sqlite(conn):
            # At commit, every API process forgets the tokens it remembered (known_tokens.py).
            await conn.execute(text(f"NOTIFY {REVOCATIONS}"))
    return RevokedToken(int(found.id), found.name, now, newly=True)


async def token_authenticate(engine: AsyncEngine, token: str) -> Principal:
    """Whom the token speaks for; 401 if it is unknown or revoked.

    Its last use is written when the one stored is a minute old or more: one small write
    per token per minute, not one per call.
    """
    async with read_statements(engine) as conn:
        found = (
            await conn.execute(
                select(
                    api_tokens.c.id, api_tokens.c.account_id, api_tokens.c.read_only, api_tokens.c.last_used_at
                ).where(api_tokens.c.token_hash == hash_token(token), api_tokens.c.revoked_at.is_(None))
            )
        ).one_or_none()
    if found is None:
        raise Unauthorized("Invalid token: unknown or revoked")
    now = utcnow()
    if found.last_used_at is None or now - found.last_used_at >= LAST_USED_EVERY:
        async with write_transaction(engine) as conn:
            await conn.execute(update(api_tokens).where(api_tokens.c.id == found.id).values(last_used_at=now))
    return Principal(account_id=int(found.account_id), token_id=int(found.id), read_only=bool(found.read_only))
