"""What every command shares: the database option, logging, and opening the engine."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import ConfigError, Settings, load_settings
from tally.logs import configure_logging
from tally.store.engine import UnsupportedDatabaseURL, create_engine, is_sqlite, normalise_url
from tally.store.migrate import is_current, upgrade

database_url_option = click.option(
    "--database-url",
    envvar="TALLY_DATABASE_URL",
    default=None,
    help="sqlite:///PATH (the default, ./tally.db) or postgresql://USER@HOST/DB  [env: TALLY_DATABASE_URL]",
)


T = TypeVar("T")

#: Account names are kept in a 200-character column.
MAX_ACCOUNT_NAME = 200


def account_name(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """The --account option: a name of 1 to 200 characters, as the accounts table holds it."""
    if not value.strip() or len(value) > MAX_ACCOUNT_NAME:
        raise click.BadParameter(f"must be 1 to {MAX_ACCOUNT_NAME} characters and not blank, got {value!r}")
    return value


def setup_logging(level: str = "INFO") -> None:
    """Logging as TALLY_LOG_FORMAT asks (text unless it is valid and says json)."""
    try:
        log_format = load_settings().log_format
    except ConfigError:
        log_format = "text"  # the command's own settings_for() reports the bad value
    configure_logging(level, log_format)


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


def run_with_database(main: Coroutine[Any, Any, T], settings: Settings) -> T:
    """Run a command's coroutine; a database it cannot use is a one-line error, not a traceback.

    OperationalError is what both drivers raise for the database itself: connection refused,
    unknown host, bad password, a file SQLite cannot open, a lock that never cleared.
    """
    shown = _display_url(settings.database_url)
    missing = _missing_sqlite_directory(settings.database_url)
    if missing is not None:
        # Said before aiosqlite tries: its failed connect leaves a thread behind that crashes noisily.
        main.close()
        raise click.ClickException(f"Cannot use the database {shown}: directory {missing} does not exist")
    try:
        return asyncio.run(main)
    except OperationalError as exc:
        lines = str(exc.orig).strip().splitlines()
        reason = lines[0] if lines else type(exc.orig).__name__
        raise click.ClickException(f"Cannot use the database {shown}: {reason}") from None


def _missing_sqlite_directory(url: str) -> Path | None:
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    directory = Path(parsed.database).parent
    return None if directory.is_dir() else directory


def _display_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable URL)"
