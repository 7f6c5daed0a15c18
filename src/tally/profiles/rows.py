"""The rows new profiles become, flags included, computed in Python by the rules of effective.py.

This is profiles_add's fast path: with every column known up front, a batch of 10,000
profiles is one insert per table, with no RETURNING and no recompute (which would cost an
UPDATE over every row just inserted). tests/profiles/test_recompute.py checks that
subscriptions_recompute_flags finds nothing to change in what these rows say.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tally.catalog.channels import CHANNEL_CODES, address_key, is_deliverable
from tally.profiles.effective import Candidate, is_blocked, is_sendable, pick_effective
from tally.profiles.input import ProfileInput, SubscriptionInput
from tally.profiles.keys import email_key


def new_profile_row(
    profile_id: int, account_id: int, database_id: int, item: ProfileInput, now: datetime
) -> dict[str, Any]:
    return {
        "id": profile_id,
        "account_id": account_id,
        "database_id": database_id,
        "email": item.email,
        "email_key": email_key(item.email),
        "phones": item.phones,
        "fields": item.fields,
        "global_status": None if item.global_status is None else int(item.global_status),
        "is_deleted": False,
        "created_at": now,
        "updated_at": now,
    }


def new_subscription_rows(profile_id: int, database_id: int, item: ProfileInput, now: datetime) -> list[dict[str, Any]]:
    """The subscriptions of a new profile; the n-th item listed changes at moment n."""
    # The same (resource, channel, address) listed twice is one subscription, written twice.
    # A later write is a change (more recent) only if it changes status or priority
    # (counting.md): otherwise the subscription keeps the moment of its earlier write.
    by_identity: dict[tuple[int, str, str], tuple[int, SubscriptionInput]] = {}
    for seq, subscription in enumerate(item.subscriptions, start=1):
        identity = (subscription.resource_id, subscription.channel, address_key(subscription.address))
        earlier = by_identity.get(identity)
        if earlier is not None and (earlier[1].status, earlier[1].priority) == (
            subscription.status,
            subscription.priority,
        ):
            continue
        by_identity[identity] = (seq, subscription)
    # Moments are distinct within a profile, so the id (not known yet) never breaks a tie.
    groups: dict[tuple[int, str], list[Candidate]] = {}
    for (resource_id, channel, _), (seq, subscription) in by_identity.items():
        groups.setdefault((resource_id, channel), []).append(
            Candidate(id=seq, priority=subscription.priority, change_seq=seq, is_deleted=False)
        )
    effective_seqs = {pick.change_seq for group in groups.values() if (pick := pick_effective(group))}
    blocked = is_blocked(item.global_status)
    rows = []
    for (resource_id, channel, key), (seq, subscription) in by_identity.items():
        deliverable = is_deliverable(channel, subscription.address)
        effective = seq in effective_seqs
        rows.append(
            {
                "profile_id": profile_id,
                "database_id": database_id,
                "resource_id": resource_id,
                "channel": CHANNEL_CODES[channel],
                "address": subscription.address,
                "address_key": key,
                "status": int(subscription.status),
                "priority": subscription.priority,
                "is_deleted": False,
                "change_seq": seq,
                "is_deliverable": deliverable,
                "is_effective": effective,
                "is_sendable": is_sendable(
                    is_effective=effective,
                    status=subscription.status,
                    is_deliverable=deliverable,
                    profile_blocked=blocked,
                ),
                "updated_at": now,
            }
        )
    return rows
