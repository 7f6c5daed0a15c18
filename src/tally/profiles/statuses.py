"""Subscription statuses (api.md section 5): a word on the wire, a number in the database."""

from __future__ import annotations

from enum import IntEnum
from typing import Annotated

from pydantic import PlainValidator, WithJsonSchema

from tally.wire.params import integer_from, invalid


class Status(IntEnum):
    SUBSCRIBED = 0
    UNSUBSCRIBED = 1
    COMPLAINED = 2
    HARDBOUNCED = 3
    UNCONFIRMED = 4
    SUSPENDED = 5
    INVALID = 6

    @property
    def word(self) -> str:
        return self.name.lower()


#: Statuses that may receive messages, if the address and the profile allow it.
SENDABLE_STATUSES = frozenset({Status.SUBSCRIBED, Status.UNCONFIRMED})
#: A profile whose global status is one of these is blocked on every channel.
BLOCKING_STATUSES = frozenset(
    {Status.UNSUBSCRIBED, Status.COMPLAINED, Status.HARDBOUNCED, Status.SUSPENDED, Status.INVALID}
)
STATUS_WORDS = ", ".join(status.word for status in Status)


def parse_status(value: object) -> Status:
    """A status from its word (any case) or its number (an integer as wire/params.py spells one)."""
    if isinstance(value, str) and (word := value.strip().lower()) in _BY_WORD:
        return _BY_WORD[word]
    number = integer_from(value)
    if number is not None and 0 <= number <= 6:
        return Status(number)
    raise ValueError(f"must be one of {STATUS_WORDS} or 0-6")


def _status_value(value: object) -> Status:
    try:
        return parse_status(value)
    except ValueError as exc:
        raise invalid(str(exc)) from None


_BY_WORD = {status.word: status for status in Status}
#: A status field of a request, as a word or its number.
StatusValue = Annotated[
    Status,
    PlainValidator(_status_value),
    WithJsonSchema(
        {"oneOf": [{"enum": [status.word for status in Status]}, {"type": "integer", "minimum": 0, "maximum": 6}]}
    ),
]
