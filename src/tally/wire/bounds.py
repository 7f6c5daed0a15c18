"""What a request body may cost to parse: the same bounds for XML and JSON.

The body limit (wire/limits.py) caps bytes, but 10 MiB of ``<a/>`` or ``[],`` is millions
of objects: seconds of CPU and hundreds of megabytes before the token is even looked at.
So a body may hold at most ``MAX_ITEMS`` elements (XML) or values (JSON: each object, list,
string, number, true, false, null), nested at most ``MAX_DEPTH`` levels of objects and
lists (the body's own object is the first level), measured on the decoded parameters so
that one body means the same in both formats. The XML parser counts as it goes; the JSON
one cannot be stopped, so its values are counted in the bytes before it starts.
"""

from __future__ import annotations

import re
from typing import Any

from tally.errors import BadRequest

MAX_DEPTH = 32
#: A batch of 10,000 profiles with three subscriptions each is about 240,000 values.
MAX_ITEMS = 500_000

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_CONTAINERS = (dict, list)


def too_deep(syntax: str) -> BadRequest:
    return BadRequest(f"Malformed {syntax}: nested deeper than {MAX_DEPTH} levels")


def too_many(syntax: str, items: str) -> BadRequest:
    return BadRequest(f"Malformed {syntax}: more than {MAX_ITEMS} {items}")


def check_depth(value: dict[str, Any], syntax: str) -> None:
    """Refuse parameters nested deeper than ``MAX_DEPTH``, without recursion."""
    level: list[Any] = [value]
    depth = 1
    while level:
        if depth > MAX_DEPTH:
            raise too_deep(syntax)
        deeper: list[Any] = []
        for container in level:
            children = container.values() if type(container) is dict else container
            deeper.extend(child for child in children if type(child) in _CONTAINERS)
        level = deeper
        depth += 1


def json_values_over(body: bytes, limit: int = MAX_ITEMS) -> bool:
    """Whether a JSON body holds more than ``limit`` values, counted without building them.

    Outside strings, each value but the first follows a ``,`` or opens a non-empty list or
    object. Counting those characters everywhere is an upper bound that needs no scan of the
    strings, which most bodies never pass.
    """
    if 1 + body.count(b",") + body.count(b"[") + body.count(b"{") <= limit:
        return False
    values = 1
    end = 0
    for strings, match in enumerate(_STRING.finditer(body), 1):
        values += _values_between(body, end, match.start())
        end = match.end()
        # A string is a value or a key, and keys are fewer than values.
        if values > limit or strings > 2 * limit:
            return True
    return values + _values_between(body, end, len(body)) > limit


def _values_between(body: bytes, start: int, end: int) -> int:
    """Values starting in ``body[start:end]``, a stretch outside strings."""
    opened = body.count(b"[", start, end) + body.count(b"{", start, end)
    empty = body.count(b"[]", start, end) + body.count(b"{}", start, end)
    return body.count(b",", start, end) + opened - empty
