"""How a capability declares an API method: its path, parameters, handler and examples."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tally.runtime import Runtime
from tally.wire.params import Params


@dataclass(frozen=True)
class Call:
    """One authenticated call: the account it acts for, by which token, in which process."""

    account_id: int
    runtime: Runtime
    token_id: int


Handler = Callable[[Call, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    """``POST /api/v1.1/<path>``, validated by ``params``, answered by ``handler``."""

    path: str
    params: type[Params]
    handler: Handler
    summary: str
    description: str = ""
    #: A request body (without the token) and the ``data`` it answers, shown in /docs; a
    #: list method answers a ``Listing`` (wire/listing.py), and so does its example.
    example: Mapping[str, Any] = field(default_factory=dict)
    response_example: Any = None
    #: False for a method that changes no stored data: a read-only token may call it.
    #: True by default, so that a method nobody marked is refused to read-only tokens.
    writes: bool = True
