"""Shared fixtures: a migrated database per backend, the app, an API client, real servers.

Every test that takes ``engine`` (directly or through ``api``) runs on SQLite, and also on
PostgreSQL when TALLY_TEST_POSTGRES_URL is set (CI sets it). Each run creates its own
PostgreSQL database and drops it at the end.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.store.engine import create_engine, normalise_url
from tally.store.migrate import upgrade
from tally.store.tables import metadata
from tests.helpers import Api, make_app

POSTGRES_URL = os.environ.get("TALLY_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """A fresh, migrated PostgreSQL database for this run (its URL), or None without PostgreSQL."""
    if not POSTGRES_URL:
        yield None
        return
    name = f"tally_test_{uuid.uuid4().hex[:10]}"
    admin = POSTGRES_URL
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    url = normalise_url(f"{base}/{name}")
    try:
        asyncio.run(_migrate(url))
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run; each test starts from a copy of it."""
    path = tmp_path_factory.mktemp("template") / "tally.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, postgres_database: str | None) -> str:
    if backend == "postgres":
        assert postgres_database is not None
        return postgres_database
    return f"sqlite+aiosqlite:///{tmp_path / 'tally.db'}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, lease_seconds=5.0, poll_interval=0.05)


@pytest.fixture
async def engine(settings: Settings, backend: str, sqlite_template: Path) -> AsyncIterator[AsyncEngine]:
    """The test's database, migrated and empty."""
    if backend == "sqlite":
        shutil.copyfile(sqlite_template, settings.database_url.removeprefix("sqlite+aiosqlite:///"))
    engine = create_engine(settings.database_url)
    if backend == "postgres":
        # One database per run: empty it so that each test starts clean.
        names = ", ".join(table.name for table in metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def api(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Api]:
    """An API client on the ASGI app (with its embedded worker) and a fresh account's token."""
    async with make_app(settings) as client:
        yield await Api.for_new_account(client, engine)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
