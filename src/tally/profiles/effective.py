"""The rules of counting.md that every write applies to the rows it touches.

* The effective subscription of a profile on (resource, channel): the not-deleted one with
  the lowest priority number; on a tie the most recently changed (highest ``change_seq``
  within the group); on a further tie the highest id.
* Sendable: effective, status subscribed or unconfirmed, address deliverable, and the
  profile neither deleted nor globally blocked.

The same rules in SQL are ``subscriptions_recompute_flags`` (queries.py); the add fast path
(rows.py) applies these. tests/profiles/test_recompute.py holds all three to one answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tally.profiles.statuses import BLOCKING_STATUSES, SENDABLE_STATUSES, Status


@dataclass(frozen=True)
class Candidate:
    """What the effective rule reads of one subscription."""

    id: int
    priority: int
    change_seq: int
    is_deleted: bool


def pick_effective(group: Sequence[Candidate]) -> Candidate | None:
    """The effective subscription of one (profile, resource, channel) group, if any."""
    live = [candidate for candidate in group if not candidate.is_deleted]
    if not live:
        return None
    return min(live, key=lambda c: (c.priority, -c.change_seq, -c.id))


def is_blocked(global_status: int | None) -> bool:
    return global_status is not None and Status(global_status) in BLOCKING_STATUSES


def is_sendable(*, is_effective: bool, status: int, is_deliverable: bool, profile_blocked: bool) -> bool:
    return is_effective and Status(status) in SENDABLE_STATUSES and is_deliverable and not profile_blocked
