"""profiles/effective: the effective rule and the sendable rule of counting.md."""

from __future__ import annotations

import pytest

from tally.profiles.effective import Candidate, is_blocked, is_sendable, pick_effective
from tally.profiles.statuses import Status


def candidate(id: int, priority: int = 0, change_seq: int = 1, is_deleted: bool = False) -> Candidate:
    return Candidate(id=id, priority=priority, change_seq=change_seq, is_deleted=is_deleted)


def test_pick_effective_empty_group_is_none() -> None:
    assert pick_effective([]) is None


def test_pick_effective_all_deleted_is_none() -> None:
    assert pick_effective([candidate(1, is_deleted=True), candidate(2, is_deleted=True)]) is None


def test_pick_effective_lowest_priority_number_wins() -> None:
    group = [candidate(1, priority=5, change_seq=9), candidate(2, priority=0, change_seq=1), candidate(3, priority=2)]
    assert pick_effective(group) == group[1]


def test_pick_effective_priority_tie_most_recent_change_wins() -> None:
    group = [candidate(1, priority=1, change_seq=3), candidate(2, priority=1, change_seq=7), candidate(3, 1, 5)]
    assert pick_effective(group) == group[1]


def test_pick_effective_full_tie_highest_id_wins() -> None:
    group = [candidate(4, priority=1, change_seq=3), candidate(9, priority=1, change_seq=3), candidate(2, 1, 3)]
    assert pick_effective(group) == group[1]


def test_pick_effective_deleted_best_is_skipped() -> None:
    group = [candidate(1, priority=0, change_seq=9, is_deleted=True), candidate(2, priority=3, change_seq=1)]
    assert pick_effective(group) == group[1]


def test_pick_effective_single_live_candidate_is_picked() -> None:
    group = [candidate(7, priority=2_147_483_647)]
    assert pick_effective(group) == group[0]


@pytest.mark.parametrize("status", list(Status))
def test_is_blocked_global_status_blocks_unless_subscribed_or_unconfirmed(status: Status) -> None:
    assert is_blocked(int(status)) is (status not in (Status.SUBSCRIBED, Status.UNCONFIRMED))


def test_is_blocked_no_global_status_is_not_blocked() -> None:
    assert not is_blocked(None)


@pytest.mark.parametrize("status", list(Status))
def test_is_sendable_only_subscribed_and_unconfirmed(status: Status) -> None:
    expected = status in (Status.SUBSCRIBED, Status.UNCONFIRMED)
    assert is_sendable(is_effective=True, status=status, is_deliverable=True, profile_blocked=False) is expected


@pytest.mark.parametrize(
    ("is_effective", "is_deliverable", "profile_blocked"),
    [(False, True, False), (True, False, False), (True, True, True)],
)
def test_is_sendable_any_missing_condition_is_false(
    is_effective: bool, is_deliverable: bool, profile_blocked: bool
) -> None:
    assert not is_sendable(
        is_effective=is_effective,
        status=Status.SUBSCRIBED,
        is_deliverable=is_deliverable,
        profile_blocked=profile_blocked,
    )
