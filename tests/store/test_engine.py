"""The engine's error texts (store/engine.py): the values of a failed statement are not
listed (the database's own message may still quote one, as PostgreSQL's DETAIL does)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.store.engine import is_database_unreachable, read_transaction


async def test_a_failed_statement_lists_no_parameter(engine: AsyncEngine) -> None:
    statement = text("SELECT * FROM no_such_table WHERE name = :value")
    with pytest.raises(DBAPIError) as raised:
        async with read_transaction(engine) as conn:
            await conn.execute(statement, {"value": "ann-secret@example.org"})
    assert "ann-secret" not in str(raised.value)
    assert "SQL parameters hidden" in str(raised.value)
    assert not is_database_unreachable(raised.value), "a statement's own error is not an outage"
