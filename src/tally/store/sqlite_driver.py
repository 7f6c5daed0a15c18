"""aiosqlite with one thread hop per statement instead of four, and BEGIN sent with the first.

aiosqlite runs each SQLite connection in a thread of its own and hands it every call as a
job; each job is a round trip between threads (100-300 µs measured on this machine class).
SQLAlchemy's adapter makes four per statement (create the cursor, execute, fetch, close)
and one more for BEGIN, so a request of a few statements spent most of its time in hops:

* a statement and the fetch of its rows are one job; the cursor is created and closed on
  the event loop's thread, which sqlite3 allows with ``check_same_thread=False`` because
  SQLAlchemy never uses a connection from two places at once;
* BEGIN waits for the transaction's first statement and runs in the same job (a
  transaction that runs none then has nothing to commit or roll back);
* a rollback with no transaction open (the pool's reset after a commit) is skipped.

A job whose caller was cancelled still runs to its end in the thread; while one may be
running, a close, commit or rollback is queued behind it instead of done on the spot.

Statements still run in the connection's thread, so a long count or a wait on the write
lock never blocks the event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import aiosqlite
from aiosqlite.context import Result, contextmanager


def _execute_and_fetch(cursor: sqlite3.Cursor, sql: str, parameters: Any) -> list[Any]:
    cursor.execute(sql, parameters)
    return cursor.fetchall() if cursor.description else []


class Cursor(aiosqlite.Cursor):
    """Runs a statement and fetches its rows in one job; serves the rows from memory."""

    def __init__(self, conn: Connection, cursor: sqlite3.Cursor) -> None:
        super().__init__(conn, cursor)
        self._connection = conn
        self._rows: list[Any] = []

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> Cursor:
        self._rows = await self._connection._execute(_execute_and_fetch, self._cursor, sql, parameters or ())
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        size = self._cursor.arraysize if size is None else size
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def fetchall(self) -> Sequence[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []
        if self._connection.is_busy():
            await self._connection._execute(self._cursor.close)
        else:
            self._cursor.close()


class Connection(aiosqlite.Connection):
    _pending_begin: str | None = None
    # Jobs handed to the thread, and jobs it finished: each counter written by one thread.
    _jobs_given = 0
    _jobs_done = 0

    def begin_with_next_statement(self, begin: str) -> None:
        """Send ``begin`` (BEGIN or BEGIN IMMEDIATE) in the job of the next statement."""
        self._pending_begin = begin

    def is_busy(self) -> bool:
        """Whether the thread may still be running a job: one whose caller was cancelled
        goes on. What this module would do on the loop's thread then waits its turn."""
        return self._jobs_given != self._jobs_done

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        begin, self._pending_begin = self._pending_begin, None
        connection = self._conn

        def job() -> Any:
            try:
                if begin is not None:
                    connection.execute(begin)
                return fn(*args, **kwargs)
            finally:
                self._jobs_done += 1

        self._jobs_given += 1
        return await super()._execute(job)  # type: ignore[no-untyped-call]

    @contextmanager
    async def cursor(self) -> Cursor:  # type: ignore[override]
        return Cursor(self, self._conn.cursor())

    async def commit(self) -> None:
        if self._pending_begin is not None:
            self._pending_begin = None  # the transaction ran no statement: nothing to commit
        elif self._conn.in_transaction or self.is_busy():
            await super().commit()

    async def rollback(self) -> None:
        self._pending_begin = None
        # A job still running may be about to open the transaction: roll back after it.
        if self._conn.in_transaction or self.is_busy():
            await super().rollback()


def connect(path: str) -> Result[Connection] | Connection:
    """An unopened connection to the database file at ``path`` (SQLAlchemy awaits it)."""
    connection = Connection(lambda: sqlite3.connect(path, check_same_thread=False), iter_chunk_size=64)
    connection._thread.daemon = True  # as SQLAlchemy's own aiosqlite dialect does
    return connection
