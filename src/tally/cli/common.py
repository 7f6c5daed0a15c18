"""What every command shares: the database option, logging, and opening the engine."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import ConfigError, Settings, load_settings
from tally.store.engine import UnsupportedDatabaseURL, create_engine, is_sqlite, normalise_url
from tally.store.migrate import is_current, upgrade

database_url_option = click.option(
    "--database-url",
    envvar="TALLY_DATABASE_URL",
    default=None,
    help="sqlite:///PATH (the default, ./tally.db) or postgresql://USER@HOST/DB  [env: TALLY_DATABASE_URL]",
)


def setup_logging(level: str = "INFO") -> None:
    logging.basicConfig(level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def settings_for(database_url: str | None, **changes: Any) -> Settings:
    """Settings from the environment, with the command's options on top."""
    try:
        settings = load_settings()
        if database_url:
            changes["database_url"] = database_url
        settings = settings.with_(**changes)
        normalise_url(settings.database_url)
    except (ConfigError, UnsupportedDatabaseURL) as exc:
        raise click.UsageError(str(exc)) from None
    return settings


async def open_engine(settings: Settings) -> AsyncEngine:
    """An engine on an up-to-date schema.

    An embedded SQLite file is upgraded in place, so that a fresh checkout just works; a
    PostgreSQL database must be upgraded with ``tally migrate`` first, once, since many
    processes may start at the same moment.
    """
    engine = create_engine(settings.database_url)
    if is_sqlite(engine):
        await upgrade(engine)
    elif not await is_current(engine):
        await engine.dispose()
        raise click.ClickException("The database schema is not current: run 'tally migrate' first.")
    return engine
