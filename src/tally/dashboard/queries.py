"""Every statement of the dashboard: its sessions, and the account-wide lists its pages show."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.catalog.queries import PROFILES_COUNT
from tally.store.tables import (
    accounts,
    api_tokens,
    counter_sets,
    dashboard_sessions,
    database_resources,
    databases,
    feedback_deliveries,
    resources,
    tasks,
)


async def token_find(conn: AsyncConnection, token_hash: str) -> Row[Any, Any, Any, Any] | None:
    """The live token with this hash: its id, its account's id and name."""
    query = (
        select(api_tokens.c.id, api_tokens.c.account_id, accounts.c.name.label("account_name"), api_tokens.c.read_only)
        .join(accounts, accounts.c.id == api_tokens.c.account_id)
        .where(api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None))
    )
    return (await conn.execute(query)).one_or_none()


async def session_insert(
    conn: AsyncConnection,
    *,
    id_hash: str,
    token_id: int,
    account_id: int,
    csrf_token: str,
    now: datetime,
    expires_at: datetime,
) -> None:
    await conn.execute(
        insert(dashboard_sessions).values(
            id_hash=id_hash,
            token_id=token_id,
            account_id=account_id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
        )
    )


async def session_find(conn: AsyncConnection, id_hash: str, now: datetime) -> Row[Any, Any, Any, Any] | None:
    """A session that has not expired, whose token is not revoked."""
    query = (
        select(
            dashboard_sessions.c.account_id, dashboard_sessions.c.csrf_token, accounts.c.name, api_tokens.c.read_only
        )
        .join(api_tokens, api_tokens.c.id == dashboard_sessions.c.token_id)
        .join(accounts, accounts.c.id == dashboard_sessions.c.account_id)
        .where(
            dashboard_sessions.c.id_hash == id_hash,
            dashboard_sessions.c.expires_at > now,
            api_tokens.c.revoked_at.is_(None),
        )
    )
    return (await conn.execute(query)).one_or_none()


async def session_delete(conn: AsyncConnection, id_hash: str) -> None:
    await conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.id_hash == id_hash))


async def sessions_purge(conn: AsyncConnection, now: datetime) -> int:
    result = await conn.execute(delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= now))
    return result.rowcount


async def pairs_with_counts(conn: AsyncConnection, account_id: int) -> list[Row[Any]]:
    """Every linked (database, resource) of the account, with its last refresh's counters, if any."""
    return list(
        await conn.execute(
            select(
                databases.c.id.label("database_id"),
                databases.c.name.label("database_name"),
                PROFILES_COUNT,
                resources.c.id.label("resource_id"),
                resources.c.name.label("resource_name"),
                counter_sets.c.channels,
                counter_sets.c.count_started_at,
                counter_sets.c.updated_at,
            )
            .select_from(database_resources)
            .join(databases, databases.c.id == database_resources.c.database_id)
            .join(resources, resources.c.id == database_resources.c.resource_id)
            .outerjoin(
                counter_sets,
                (counter_sets.c.database_id == databases.c.id) & (counter_sets.c.resource_id == resources.c.id),
            )
            .where(databases.c.account_id == account_id, resources.c.account_id == account_id)
            .order_by(databases.c.id, resources.c.id)
        )
    )


async def unlinked(conn: AsyncConnection, account_id: int) -> tuple[list[Row[Any, Any]], list[Row[Any, Any]]]:
    """The account's databases with no resource, and resources with no database."""
    linked_databases = select(database_resources.c.database_id)
    linked_resources = select(database_resources.c.resource_id)
    lone_databases = await conn.execute(
        select(databases.c.id, databases.c.name)
        .where(databases.c.account_id == account_id, databases.c.id.not_in(linked_databases))
        .order_by(databases.c.id)
    )
    lone_resources = await conn.execute(
        select(resources.c.id, resources.c.name)
        .where(resources.c.account_id == account_id, resources.c.id.not_in(linked_resources))
        .order_by(resources.c.id)
    )
    return list(lone_databases), list(lone_resources)


async def counted_at(conn: AsyncConnection, database_id: int, resource_id: int) -> Row[Any, Any, Any] | None:
    """When the pair's last refresh counted, how long it took, and when it finished."""
    query = select(counter_sets.c.count_started_at, counter_sets.c.count_duration_ns, counter_sets.c.updated_at).where(
        counter_sets.c.database_id == database_id, counter_sets.c.resource_id == resource_id
    )
    return (await conn.execute(query)).one_or_none()


async def tasks_recent(conn: AsyncConnection, account_id: int, limit: int) -> list[Row[Any]]:
    """The account's newest tasks (ix_tasks_account_created), feedback deliveries left out."""
    return list(
        await conn.execute(
            select(tasks)
            .where(tasks.c.account_id == account_id, tasks.c.parent_id.is_(None))
            .order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
            .limit(limit)
        )
    )


async def task_of_account(conn: AsyncConnection, account_id: int, task_id: str) -> Row[Any] | None:
    query = select(tasks).where(tasks.c.id == task_id, tasks.c.account_id == account_id)
    row: Row[Any] | None = (await conn.execute(query)).one_or_none()
    return row


async def deliveries_of(conn: AsyncConnection, task_ids: list[str]) -> list[Row[Any]]:
    if not task_ids:
        return []
    return list(
        await conn.execute(
            select(
                feedback_deliveries.c.task_id,
                feedback_deliveries.c.url,
                feedback_deliveries.c.type,
                feedback_deliveries.c.status,
                feedback_deliveries.c.attempts,
                feedback_deliveries.c.last_error,
            )
            .where(feedback_deliveries.c.task_id.in_(task_ids))
            .order_by(feedback_deliveries.c.created_at)
        )
    )
