"""The rejects file: one JSON line per record that did not go in, with its line and reason.

``{"line": 7, "index": 5, "error": "Invalid parameter: ...", "code": 400, "text": "..."}``:
the physical line the record starts on, its number among the records (from 0: a JSON
array's item index), the error the API would give for it, its code, and the record's own
text in the file. Lines of a batch are written before the batch commits and cut off again
if it does not; a resume cuts the file back to the size its checkpoint recorded (a killed
run may have written a batch's lines without committing it), so that the file always holds
exactly the rejects of the committed batches.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import TracebackType

from tally.errors import TallyError
from tally.imports.formats import Record, record_text


class Rejects:
    def __init__(self, path: Path, keep_bytes: int, source_fd: int) -> None:
        self.path = path
        self._source = source_fd
        # A rejects file removed or cut since is not padded out: it keeps what is left.
        keep = min(keep_bytes, path.stat().st_size) if keep_bytes and path.exists() else 0
        self._file = path.open("r+b" if keep else "wb")
        self._file.truncate(keep)
        self._file.seek(keep)
        self.size = keep

    def add(self, record: Record, error: TallyError) -> None:
        entry = {
            "line": record.line,
            "index": record.index,
            "error": error.text,
            "code": error.code,
            "text": record_text(self._source, record),
        }
        line = json.dumps(entry, ensure_ascii=False).encode("utf-8", "surrogateescape") + b"\n"
        self._file.write(line)
        self.size += len(line)

    def flush(self) -> None:
        self._file.flush()

    def cut(self, size: int) -> None:
        """Drop what was written after ``size`` (a batch that did not commit)."""
        self._file.flush()
        self._file.truncate(size)
        self._file.seek(size)
        self.size = size

    def finish(self, rejected: int) -> None:
        """The import is done: an empty rejects file is not left behind."""
        self._file.close()
        if rejected == 0 and self.size == 0:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Rejects:
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._file.close()
        os.close(self._source)
