"""The SQL of imports: checkpoints, and the account a database belongs to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.store.tables import databases, import_checkpoints


async def database_account(conn: AsyncConnection, database_id: int) -> int | None:
    """The account of a database, whichever it is: the operator's CLI may import into any."""
    value = await conn.scalar(select(databases.c.account_id).where(databases.c.id == database_id))
    return None if value is None else int(value)


async def checkpoint_get(conn: AsyncConnection, database_id: int, fingerprint: str) -> Row[Any] | None:
    statement = select(import_checkpoints).where(
        import_checkpoints.c.database_id == database_id, import_checkpoints.c.fingerprint == fingerprint
    )
    return (await conn.execute(statement)).first()


async def checkpoints_unfinished(conn: AsyncConnection, database_id: int) -> list[Row[Any]]:
    statement = (
        select(import_checkpoints)
        .where(import_checkpoints.c.database_id == database_id, import_checkpoints.c.finished_at.is_(None))
        .order_by(import_checkpoints.c.updated_at.desc())
    )
    return list((await conn.execute(statement)).all())


async def checkpoint_replace(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """A new checkpoint for (database, file), replacing any earlier one."""
    await conn.execute(
        delete(import_checkpoints).where(
            import_checkpoints.c.database_id == values["database_id"],
            import_checkpoints.c.fingerprint == values["fingerprint"],
        )
    )
    await conn.execute(insert(import_checkpoints).values(values))


async def checkpoint_claim(conn: AsyncConnection, database_id: int, fingerprint: str, run_id: str) -> bool:
    """Make ``run_id`` the checkpoint's writer; False if there is no checkpoint."""
    statement = (
        update(import_checkpoints)
        .where(import_checkpoints.c.database_id == database_id, import_checkpoints.c.fingerprint == fingerprint)
        .values(run_id=run_id)
    )
    return (await conn.execute(statement)).rowcount == 1


async def checkpoint_advance(
    conn: AsyncConnection, database_id: int, fingerprint: str, run_id: str, values: dict[str, Any]
) -> bool:
    """Move the checkpoint on; False if another run has taken it over since."""
    statement = (
        update(import_checkpoints)
        .where(
            import_checkpoints.c.database_id == database_id,
            import_checkpoints.c.fingerprint == fingerprint,
            import_checkpoints.c.run_id == run_id,
        )
        .values(values)
    )
    return (await conn.execute(statement)).rowcount == 1
