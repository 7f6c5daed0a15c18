"""JSON Lines (one profile data object per line) and one JSON array of profile objects.

The array is what database exports write (PostgreSQL's ``json_agg``: one item per line,
``phones`` a list, custom fields numbers, dates as strings, lists). It is read in chunks
with the standard decoder's ``raw_decode``, one item at a time: memory holds one chunk and
one item whatever the file's size, and each item's physical line and byte offset are known,
so that a rejected item is reported by line and a resumed import seeks to the next item.
A syntax error inside the array ends the reading there (no later item can be found for
sure); in JSON Lines a malformed line is rejected alone.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tally.imports.formats import UTF8_BOM, Nested, Position, Record

CHUNK_BYTES = 1 << 20
#: One item of an array larger than this is taken for a broken file, not read on.
MAX_ITEM_CHARS = 64 << 20
#: Keys of the profile data whose values are lists or objects by design.
STRUCTURED_KEYS = frozenset({"phones", "subscriptions"})
_SPACE = re.compile(r"[ \t\n\r]*")


def nested_as_json(data: Any) -> Any:
    """A list or object value of a custom field becomes its JSON text (``--nested json``)."""
    if not isinstance(data, dict):
        return data
    for key, value in data.items():
        if isinstance(value, list | dict) and key not in STRUCTURED_KEYS:
            data[key] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return data


def read_json_lines(path: Path, start: Position, nested: Nested) -> Iterator[Record]:
    line, index, offset = start.line, start.records, start.offset
    with path.open("rb") as file:
        file.seek(offset)
        for raw in file:
            line += 1
            begin, offset = offset, offset + len(raw)
            text = raw[len(UTF8_BOM) :] if begin == 0 and raw.startswith(UTF8_BOM) else raw
            if not text.strip():
                continue  # a blank line is no record
            try:
                data = json.loads(text)
            except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
                yield Record(line, index, begin, offset, line, None, error=f"Malformed JSON: {_reason(exc)}")
            else:
                yield Record(line, index, begin, offset, line, nested_as_json(data) if nested == "json" else data)
            index += 1


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return str(exc)


class _Chunks:
    """The file's text in chunks; ``pos`` is where reading stands in ``text``, and ``line`` and
    ``offset`` count the lines and bytes before it."""

    def __init__(self, path: Path, start: Position) -> None:
        self._file = path.open("rb")
        self._decoder = codecs.getincrementaldecoder("utf-8")("surrogateescape")
        self.text = ""
        self.pos = 0
        self.line = start.line
        self.offset = start.offset
        self.at_end = False
        if start.offset == 0 and self._file.read(len(UTF8_BOM)) == UTF8_BOM:
            self.offset = len(UTF8_BOM)
        self._file.seek(self.offset)

    def close(self) -> None:
        self._file.close()

    def more(self) -> bool:
        """Append the next chunk (dropping what was read); False at the end of the file."""
        if self.at_end:
            return False
        raw = self._file.read(CHUNK_BYTES)
        self.at_end = not raw
        self.text = self.text[self.pos :] + self._decoder.decode(raw, final=self.at_end)
        self.pos = 0
        return not self.at_end

    @property
    def char(self) -> str:
        return self.text[self.pos]

    def consume(self, end: int) -> None:
        """Move past the text up to ``end``, counting its lines and bytes."""
        self.line += self.text.count("\n", self.pos, end)
        self.offset += len(self.text[self.pos : end].encode("utf-8", "surrogateescape"))
        self.pos = end

    def skip_space(self) -> bool:
        """Skip whitespace; False if the file ends first."""
        while True:
            match = _SPACE.match(self.text, self.pos)
            if match is not None and match.end() > self.pos:
                self.consume(match.end())
            if self.pos < len(self.text) or not self.more():
                return self.pos < len(self.text)


def read_json_array(path: Path, start: Position, nested: Nested) -> Iterator[Record]:
    """The items of the file's one JSON array, from ``start`` (after an item, or the beginning)."""
    chunks = _Chunks(path, start)
    decoder = json.JSONDecoder()
    index = start.records
    try:
        if start.records == 0:
            if not chunks.skip_space() or chunks.char != "[":
                yield _broken(chunks, index, "the file must hold one JSON array of profile objects")
                return
            chunks.consume(chunks.pos + 1)
            if not chunks.skip_space():
                yield _broken(chunks, index, "the array is not closed")
                return
            if chunks.char == "]":
                return
        else:
            # Resumed after an item: a comma and the next item, or the array's end.
            if not chunks.skip_space():
                yield _broken(chunks, index, "the array is not closed")
                return
            if chunks.char == "]":
                return
            if chunks.char != ",":
                yield _broken(chunks, index, "expected ',' or ']' after an item")
                return
            chunks.consume(chunks.pos + 1)
        while True:
            if not chunks.skip_space():
                yield _broken(chunks, index, "the array is not closed")
                return
            item = _decode_item(chunks, decoder)
            if isinstance(item, str):
                yield _broken(chunks, index, item)
                return
            value, end = item
            line, begin = chunks.line + 1, chunks.offset
            chunks.consume(end)
            data = nested_as_json(value) if nested == "json" else value
            yield Record(line, index, begin, chunks.offset, chunks.line, data)
            index += 1
            if not chunks.skip_space():
                yield _broken(chunks, index, "the array is not closed")
                return
            if chunks.char == "]":
                return
            if chunks.char != ",":
                yield _broken(chunks, index, "expected ',' or ']' after an item")
                return
            chunks.consume(chunks.pos + 1)
    finally:
        chunks.close()


def _decode_item(chunks: _Chunks, decoder: json.JSONDecoder) -> tuple[Any, int] | str:
    """The next value and where it ends in the buffer, or why it cannot be read."""
    while True:
        try:
            value, end = decoder.raw_decode(chunks.text, chunks.pos)
        except json.JSONDecodeError as exc:
            # Maybe only cut by the chunk's end: read on, up to the bound of one item.
            if len(chunks.text) - chunks.pos < MAX_ITEM_CHARS and chunks.more():
                continue
            line = chunks.line + chunks.text.count("\n", chunks.pos, exc.pos) + 1
            return f"Malformed JSON: {exc.msg} at line {line}"
        # A value that ends the buffer may go on in the next chunk (a number, a literal).
        if end == len(chunks.text) and len(chunks.text) - chunks.pos < MAX_ITEM_CHARS and chunks.more():
            continue
        return value, end


def _broken(chunks: _Chunks, index: int, reason: str) -> Record:
    text = reason if reason.startswith("Malformed JSON") else f"Malformed JSON: {reason}"
    return Record(chunks.line + 1, index, chunks.offset, chunks.offset, chunks.line, None, error=text, fatal=True)
