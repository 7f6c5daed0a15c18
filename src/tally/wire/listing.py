"""The answer of a list method, in the shape of Altcraft's own ``databases/list``.

A handler returns a ``Listing``; the envelope (wire/codec.py ``success_envelope``) then
carries the items as ``data`` itself, and the paging keys after ``error_text``::

    {"data": [...], "error": 0, "error_text": "Successful operation",
     "next_from_id": 6, "total_count": 4}

Altcraft clients decode ``data`` straight into a list, so there is no wrapper object. In
XML each item is one ``<data>`` element, and an empty page is one empty ``<data></data>``,
as every empty list is (api.md section 2): parsed back with the schema (``data`` is a
list) it is ``[]``, and ``error`` 0 tells it from an error's empty ``<data>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Listing:
    """A page of a list method: ``items`` become ``data``, the paging keys join the envelope."""

    items: list[Any]
    #: The id the next page starts at (its ``from_id``); 0 when this is the last page.
    next_from_id: int
    #: How many items there are in all pages together.
    total_count: int

    def paging(self) -> dict[str, int]:
        """The envelope members that follow ``error_text``, in their order."""
        return {"next_from_id": self.next_from_id, "total_count": self.total_count}
