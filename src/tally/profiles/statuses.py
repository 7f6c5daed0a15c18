"""Subscription statuses (api.md section 5): a word on the wire, a number in the database."""

from __future__ import annotations

from enum import IntEnum


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
    """A status from its word (any case) or its number (as a number or digits)."""
    if isinstance(value, bool):
        raise ValueError(f"must be one of {STATUS_WORDS} or 0-6")
    if isinstance(value, str):
        text = value.strip().lower()
        if text.isascii() and text.isdigit():
            value = int(text)
        else:
            for status in Status:
                if status.word == text:
                    return status
    if isinstance(value, int) and 0 <= value <= 6:
        return Status(value)
    raise ValueError(f"must be one of {STATUS_WORDS} or 0-6")
