"""Schema migrations with Alembic, run programmatically on our own async engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default), in place."""
    await _migrate(engine, lambda config: command.upgrade(config, revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Take the schema back to ``revision`` (tests of migrations over stored data)."""
    await _migrate(engine, lambda config: command.downgrade(config, revision))


async def _migrate(engine: AsyncEngine, step: Callable[[Config], object]) -> None:
    """Run an Alembic command in one transaction.

    SQLite rebuilds a table to alter it (create the new one, copy, drop the old one), and a
    DROP TABLE with foreign keys enforced deletes in cascade what refers to the old table.
    So foreign keys are off while a migration runs, as SQLite's own procedure for altering
    tables says, and checked once it has committed. The pragma only takes effect outside
    a transaction: it is set on the driver connection before SQLAlchemy begins one.
    """
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        # aiosqlite's own connection: SQLAlchemy's would begin a transaction first.
        driver = (await conn.get_raw_connection()).driver_connection if sqlite else None
        if driver is not None:
            await driver.execute("PRAGMA foreign_keys=OFF")
        try:
            async with conn.begin():
                await conn.run_sync(lambda connection: step(alembic_config(connection)))
            if driver is not None:
                broken = await (await driver.execute("PRAGMA foreign_key_check")).fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows whose foreign keys point nowhere: {broken[:5]}")
        finally:
            if driver is not None:
                await driver.execute("PRAGMA foreign_keys=ON")


async def is_current(engine: AsyncEngine) -> bool:
    """Whether the database is at the newest migration."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()

    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as conn:
        return await conn.run_sync(_current) == head
