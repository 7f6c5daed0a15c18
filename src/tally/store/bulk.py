"""Statements over many rows at once: inserts, and lookups of many values.

``insert_rows``: COPY on PostgreSQL, one executemany on SQLite. psycopg sends an
executemany as one INSERT per row (pipelined); a batch import of 10,000 profiles writes
some 40,000 rows, which COPY takes in a fraction of that time. The COPY runs on the
connection's own driver connection, so it is part of the caller's transaction.

``one_of``: ``column IN (values)`` as one bound parameter (an array on PostgreSQL, a JSON
list read by ``json_each`` on SQLite) instead of one parameter per value, which SQLAlchemy
would render anew for every batch size and SQLite caps at 32,766.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    String,
    Table,
    any_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.store.engine import is_sqlite

#: Below this many rows an INSERT costs no more than a COPY.
COPY_FROM_ROWS = 50


async def insert_rows(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (each with the same keys) into ``table``.

    The driver gets plain sequences, and only the columns whose type needs it are encoded,
    by that type's own bind processor (a value repeated from the row before, such as the
    batch's ``now``, is not encoded again): SQLAlchemy's per-row parameter handling cost
    more than SQLite's own insert (measured: 60 of the 240 microseconds a CSV row took).
    """
    if not rows:
        return
    names = list(rows[0])
    columns = ", ".join(f'"{name}"' for name in names)
    if not is_sqlite(conn) and len(rows) < COPY_FROM_ROWS:
        await conn.execute(insert(table), list(rows))
        return
    if is_sqlite(conn):
        encode = _row_encoder(names, [_bind_encoder(table.c[name].type, conn.dialect) for name in names])
        placeholders = ", ".join("?" * len(names))
        statement = f'INSERT INTO "{table.name}" ({columns}) VALUES ({placeholders})'
        await conn.exec_driver_sql(statement, [encode(row) for row in rows])
        return
    encode = _row_encoder(names, [_copy_encoder(table.c[name].type) for name in names])
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    async with driver.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            await copy.write_row(encode(row))


Encoder = Callable[[Any], Any]


def _row_encoder(names: list[str], encoders: list[Encoder | None]) -> Callable[[dict[str, Any]], Sequence[Any]]:
    """A row's values in the order of ``names``, those with an encoder encoded."""
    pick = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    encoded = [(index, encoder) for index, encoder in enumerate(encoders) if encoder is not None]
    if not encoded:
        return pick

    def encode(row: dict[str, Any]) -> Sequence[Any]:
        values = list(pick(row))
        for index, encoder in encoded:
            values[index] = encoder(values[index])
        return tuple(values)  # exec_driver_sql takes tuples only

    return encode


def _bind_encoder(column_type: Any, dialect: Any) -> Encoder | None:
    """The column type's bind processor for ``dialect``, remembering the last value it encoded.

    The dialect's own implementation of the type, as SQLAlchemy's inserts use it: SQLite's
    DATETIME writes ``2024-05-06 07:08:09.000000``, where the generic type would leave the
    value to sqlite3's adapter (``2024-05-06 07:08:09``, deprecated since Python 3.12).
    """
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    if process is None:
        return None
    last: list[Any] = [_NOTHING, None]

    def encode(value: Any) -> Any:
        if value is not last[0]:
            last[0], last[1] = value, process(value)
        return last[1]

    return encode


_NOTHING = object()


def _copy_encoder(column_type: Any) -> Encoder | None:
    """What COPY takes for a column: JSON as its text; every other value as it is."""
    if isinstance(column_type, JSON):
        return lambda value: None if value is None else _json_text(value)
    return None


_json_text = json.JSONEncoder(ensure_ascii=False).encode


def one_of(conn: AsyncConnection, column: Any, values: Sequence[int] | Sequence[str]) -> ColumnElement[bool]:
    """``column IN values``, with ``values`` as one parameter of the column's type."""
    if is_sqlite(conn):
        listed: Any = select(literal_column("value")).select_from(func.json_each(json.dumps(list(values))))
        found: ColumnElement[bool] = column.in_(listed)
        return found
    element_type = BigInteger() if isinstance(column.type, BigInteger) else String()
    matched: ColumnElement[bool] = column == any_(bindparam(None, list(values), type_=ARRAY(element_type)))
    return matched
