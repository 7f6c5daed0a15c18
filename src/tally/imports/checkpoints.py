"""Checkpoints: how far the import of one file into one database got, kept in the database.

A checkpoint is keyed by (database, the file's fingerprint) and moved on in the transaction
that writes each batch, so that it names exactly the rows that are in, whatever stops the
process. The fingerprint is the file's size and the SHA-256 of its first MiB: cheap on any
size, and another file (or the same one grown or cut) is another import.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.imports import queries
from tally.imports.formats import Position
from tally.store.types import utcnow

FINGERPRINT_BYTES = 1 << 20


def fingerprint(path: Path) -> str:
    with path.open("rb") as file:
        head = file.read(FINGERPRINT_BYTES)
        size = file.seek(0, 2)
    return f"{size}:{hashlib.sha256(head).hexdigest()}"


@dataclass(frozen=True)
class Counts:
    added: int = 0
    updated: int = 0
    rejected: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(self.added + other.added, self.updated + other.updated, self.rejected + other.rejected)


@dataclass(frozen=True)
class Checkpoint:
    database_id: int
    fingerprint: str
    file_name: str
    options: dict[str, Any]
    run_id: str
    position: Position
    counts: Counts
    rejects_bytes: int
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Row[Any]) -> Checkpoint:
        return cls(
            database_id=row.database_id,
            fingerprint=row.fingerprint,
            file_name=row.file_name,
            options=dict(row.options),
            run_id=row.run_id,
            position=Position(row.line, row.records, row.byte_offset),
            counts=Counts(row.added, row.updated, row.rejected),
            rejects_bytes=row.rejects_bytes,
            started_at=row.started_at,
            updated_at=row.updated_at,
            finished_at=row.finished_at,
        )

    def values(self) -> dict[str, Any]:
        return {
            "database_id": self.database_id,
            "fingerprint": self.fingerprint,
            "file_name": self.file_name,
            "options": self.options,
            "run_id": self.run_id,
            **_progress(self),
            "started_at": self.started_at,
        }


def _progress(checkpoint: Checkpoint) -> dict[str, Any]:
    return {
        "line": checkpoint.position.line,
        "records": checkpoint.position.records,
        "byte_offset": checkpoint.position.offset,
        "added": checkpoint.counts.added,
        "updated": checkpoint.counts.updated,
        "rejected": checkpoint.counts.rejected,
        "rejects_bytes": checkpoint.rejects_bytes,
        "updated_at": checkpoint.updated_at,
        "finished_at": checkpoint.finished_at,
    }


async def checkpoint_find(conn: AsyncConnection, database_id: int, file_fingerprint: str) -> Checkpoint | None:
    row = await queries.checkpoint_get(conn, database_id, file_fingerprint)
    return None if row is None else Checkpoint.from_row(row)


async def checkpoints_unfinished(conn: AsyncConnection, database_id: int) -> list[Checkpoint]:
    return [Checkpoint.from_row(row) for row in await queries.checkpoints_unfinished(conn, database_id)]


async def checkpoint_begin(conn: AsyncConnection, checkpoint: Checkpoint, *, resumed: bool) -> None:
    """Start writing ``checkpoint``: a fresh one replaces any earlier; a resumed one is taken over."""
    if resumed:
        await queries.checkpoint_claim(conn, checkpoint.database_id, checkpoint.fingerprint, checkpoint.run_id)
    else:
        await queries.checkpoint_replace(conn, checkpoint.values())


async def checkpoint_move(conn: AsyncConnection, checkpoint: Checkpoint) -> bool:
    """Record ``checkpoint``'s progress; False if a later run has taken the checkpoint over."""
    return await queries.checkpoint_advance(
        conn, checkpoint.database_id, checkpoint.fingerprint, checkpoint.run_id, _progress(checkpoint)
    )


def advanced(checkpoint: Checkpoint, position: Position, counts: Counts, rejects_bytes: int) -> Checkpoint:
    return replace(
        checkpoint,
        position=position,
        counts=checkpoint.counts + counts,
        rejects_bytes=rejects_bytes,
        updated_at=utcnow(),
    )
