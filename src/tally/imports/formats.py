"""The file formats an import reads, and the record and position every reader yields.

A reader yields ``Record``s from a ``Position``: the physical lines, records and bytes read
so far. The position after a record is what a checkpoint keeps, so that a resumed import
seeks straight to the byte where the last committed batch ended.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Format = Literal["csv", "jsonl", "json"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "json")
EXTENSIONS: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
#: What an export's list or object value of a custom field becomes: refused (as the API
#: refuses it) or its JSON text.
Nested = Literal["reject", "json"]
UTF8_BOM = b"\xef\xbb\xbf"


class FileProblem(Exception):
    """The file cannot be imported at all (unknown format, a CSV header that cannot work)."""


def detect_format(path: Path) -> Format:
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        known = ", ".join(EXTENSIONS)
        raise FileProblem(f"cannot tell the format of {path.name} from its extension ({known}): give --format")
    return found


@dataclass(frozen=True)
class Position:
    """How far a reader got: physical lines, records (data rows, items) and bytes consumed."""

    line: int = 0
    records: int = 0
    offset: int = 0


@dataclass(slots=True)
class Record:
    """One profile of the file, as read: its data, or why it could not be read.

    One is made per row: slots and no ``frozen`` (whose ``__init__`` sets each field through
    ``object.__setattr__``) halve what reading a CSV costs.
    """

    #: The physical line it starts on (1-based).
    line: int
    #: Its number among the records, from 0 (a JSON array's item index).
    index: int
    #: Byte offsets of its text in the file: [start, end).
    start: int
    end: int
    #: Physical lines before ``end`` (the newlines read through this record).
    lines_after: int
    #: The profile data (a JSON value as decoded; for CSV, the data built from the row).
    data: Any
    #: Why it could not be read (malformed JSON, a row of the wrong length), else None.
    error: str | None = None
    #: CSV: the channel of each subscription built from the row, in order (error texts
    #: name the column, not ``subscriptions[1]``).
    channels: tuple[str, ...] = ()
    #: A problem after which the file cannot be read on (a broken JSON array).
    fatal: bool = False


def position_after(record: Record) -> Position:
    return Position(record.lines_after, record.index + 1, record.end)


def record_text(fd: int, record: Record, limit: int = 100_000) -> str:
    """The record's own text in the file (for the rejects file), at most ``limit`` bytes."""
    raw = os.pread(fd, min(record.end - record.start, limit), record.start)
    return raw.decode("utf-8", "surrogateescape").rstrip("\r\n")
