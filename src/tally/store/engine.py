"""Engine set-up and the two kinds of transaction every capability uses.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE``: it takes the write lock up front, so two
writers queue on the busy timeout instead of failing halfway with "database is locked".
PostgreSQL (production) runs through psycopg 3 at READ COMMITTED.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import psycopg
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, InvalidatePoolError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from tally.store import sqlite_driver

SQLITE_BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "tally_immediate"


class UnsupportedDatabaseURL(ValueError):
    """The database URL names a database Tally does not run on."""


def normalise_url(url: str) -> str:
    """Pick the async driver for a plain ``sqlite://`` or ``postgresql://`` URL."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    if url.startswith(("sqlite+aiosqlite://", "postgresql+psycopg://")):
        return url
    raise UnsupportedDatabaseURL(f"Unsupported database URL {url!r}: use sqlite:///PATH or postgresql://USER@HOST/DB")


def create_engine(url: str) -> AsyncEngine:
    """The engine of a database URL. ``hide_parameters``: a failed statement's error (and so
    its log line) shows the SQL but not the values: addresses, token hashes, profile data."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = make_url(url).database or ""
        engine = create_async_engine(
            url,
            pool_size=5,
            max_overflow=10,
            hide_parameters=True,
            async_creator=lambda: sqlite_driver.connect(path),
        )
        _configure_sqlite(engine)
        return engine
    # Kept connections cover the requests one process serves at once under load: past them,
    # each overflow connection is opened and closed per request, a backend forked each time
    # (make loadtest at 16 requests per process spent a tenth of its CPU on that with 10).
    engine = create_async_engine(url, pool_size=POSTGRES_POOL, max_overflow=10, hide_parameters=True)
    _ping_when_idle(engine)
    return engine


#: Connections a process keeps open to PostgreSQL (10 more are opened for a burst).
POSTGRES_POOL = 20
#: A pooled connection back in the pool for longer than this is pinged before it is handed
#: out; one used more recently is taken as alive (HikariCP's ``aliveBypassWindowMs``).
PING_AFTER_IDLE_SECONDS = 1.0
_RETURNED_AT = "tally_returned_at"


def _ping_when_idle(engine: AsyncEngine) -> None:
    """SQLAlchemy's ``pool_pre_ping``, only for connections that sat idle.

    A ping is a round trip: on every checkout it cost as much as the read it preceded (a
    tasks/status spent a third of its time pinging). A connection used a moment ago is
    seldom dead; if it is (the server restarted in that moment), its statement fails as a
    disconnect, which answers 503 and makes SQLAlchemy discard every older connection.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)  # None: opened for this checkout
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                # As pre_ping does: this and every older connection are replaced.
                raise InvalidatePoolError() from error
            raise


#: admin_shutdown, crash_shutdown, cannot_connect_now.
_SERVER_GOING_AWAY = {"57P01", "57P02", "57P03"}


def is_database_unreachable(exc: BaseException) -> bool:
    """Whether an error means PostgreSQL could not be reached or dropped the connection (a
    restart, a killed backend, a failover): worth a retry, unlike the statement's own errors.

    A disconnect SQLAlchemy recognised (it invalidated the connection), a connection that
    could not be made (psycopg gives no SQLSTATE then), or the server saying so: class 08
    (connection exception), or shutting down or starting up (57P01-57P03). A statement
    timeout (57014), a full disk or a lock is an OperationalError too, but a retry would
    meet it again.
    """
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if not isinstance(exc.orig, psycopg.OperationalError):
        return False
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _SERVER_GOING_AWAY


def is_sqlite(engine: AsyncEngine | AsyncConnection) -> bool:
    return engine.dialect.name == "sqlite"


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN itself, so that writes can use
        # BEGIN IMMEDIATE (pysqlite would otherwise emit a deferred BEGIN on its own).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        driver = conn.connection.driver_connection
        assert isinstance(driver, sqlite_driver.Connection)
        driver.begin_with_next_statement("BEGIN IMMEDIATE" if immediate else "BEGIN")


@asynccontextmanager
async def write_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction that writes: committed on success, rolled back on any error."""
    async with engine.connect() as conn:
        if is_sqlite(engine):
            await conn.execution_options(**{_IMMEDIATE: True})
        async with conn.begin():
            yield conn


@asynccontextmanager
async def read_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """One transaction that only reads, never holding the write lock.

    On PostgreSQL (READ COMMITTED) each statement sees the data committed before it; when
    several reads must agree with each other, use ``snapshot_transaction``.
    """
    async with engine.connect() as conn, conn.begin():
        yield conn


@asynccontextmanager
async def read_statements(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection for reads that need no transaction at all: on PostgreSQL in autocommit,
    each statement its own, which spares the BEGIN and COMMIT round trips (a third of a
    one-statement read's cost). For hot reads that hold no lock and need no two statements
    to agree (a token's lookup, a task's status); SQLite reads as ``read_transaction`` does.
    """
    if is_sqlite(engine):
        async with read_transaction(engine) as conn:
            yield conn
        return
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


@asynccontextmanager
async def snapshot_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A read transaction whose every statement sees the same snapshot of the data.

    PostgreSQL needs REPEATABLE READ for that (READ COMMITTED takes a snapshot per
    statement); a SQLite read transaction in WAL mode keeps the snapshot of its first read.
    Writers are blocked on neither.
    """
    async with engine.connect() as conn:
        if not is_sqlite(conn):
            await conn.execution_options(isolation_level="REPEATABLE READ")
        async with conn.begin():
            yield conn


_SNAPSHOT_ID = re.compile(r"[0-9A-F]+(-[0-9A-F]+)+")


@asynccontextmanager
async def snapshot_shared(
    engine: AsyncEngine, conn: AsyncConnection, count: int
) -> AsyncIterator[list[AsyncConnection]]:
    """``count`` more read transactions that see the snapshot of ``conn``'s (PostgreSQL).

    The snapshot is exported (``pg_export_snapshot``) and each new transaction imports it
    before any read (``SET TRANSACTION SNAPSHOT``), as ``pg_dump --jobs`` does: work split
    across connections then reads one state of the data. ``conn`` must be a
    ``snapshot_transaction`` and stay open until these end.
    """
    if count == 0:
        yield []
        return
    snapshot = str(await conn.scalar(text("SELECT pg_export_snapshot()")))
    if not _SNAPSHOT_ID.fullmatch(snapshot):  # it is spliced into the statement below
        raise RuntimeError(f"unexpected snapshot id from PostgreSQL: {snapshot!r}")
    async with AsyncExitStack() as stack:
        clones = []
        for _ in range(count):
            clone = await stack.enter_async_context(engine.connect())
            await clone.execution_options(isolation_level="REPEATABLE READ")
            await stack.enter_async_context(clone.begin())
            await clone.execute(text(f"SET TRANSACTION SNAPSHOT '{snapshot}'"))
            clones.append(clone)
        yield clones
