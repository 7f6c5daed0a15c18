"""What an import changes, planned in Python for a whole batch before anything is written.

An import (profiles/import, update, import_batch, ``tally import``) applies its items in
order, as if one after the other: the second item for a key updates what the first one
created or changed. The batch's stored profiles and subscriptions are loaded once; each item
is applied to their in-memory state; the result is a plan of rows to insert and update,
which service.py writes with one statement per table. Subscriptions are upserted by their
identity (resource, channel, address key), each change taking the next moment of its
(resource, channel) group, as subscriptions/set does.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from tally.catalog.channels import CHANNEL_CODES, address_key
from tally.profiles.input import ImportInput, Matching, ProfileInput, SubscriptionInput
from tally.profiles.keys import email_key, phone_key


@dataclass(eq=False)
class StoredSubscription:
    """A subscription as stored (deleted or not), and whether the plan changed it."""

    id: int | None
    resource_id: int
    channel: int
    #: Known for the subscriptions the plan adds; a stored one is known by its key.
    address: dict[str, Any] | None
    address_key: str
    status: int
    priority: int
    is_deleted: bool
    change_seq: int
    changed: bool = False


@dataclass(eq=False)
class ProfileState:
    """One profile as the plan sees it: stored (``id`` set) or new (``id`` None)."""

    id: int | None
    email: str | None
    phones: list[str]
    global_status: int | None
    fields: dict[str, Any]
    #: Stored profiles only: their subscriptions by identity, and the last moment per group.
    subscriptions: dict[tuple[int, int, str], StoredSubscription] = field(default_factory=dict)
    moments: dict[tuple[int, int], int] = field(default_factory=dict)
    #: New profiles only: what was given, in order (rows.py computes their rows at once).
    written: list[SubscriptionInput] = field(default_factory=list)
    changed: bool = False
    phones_changed: bool = False
    #: Whether the derived flags of its subscriptions must be recomputed.
    flags_stale: bool = False
    #: New profiles only: their place among the batch's new profiles (their ids follow it).
    position: int = 0

    @property
    def age(self) -> tuple[int, int]:
        """Oldest first: stored profiles by id, then new ones in the order they were made."""
        return (0, self.id) if self.id is not None else (1, self.position)

    def keys(self, matching: Matching) -> list[str]:
        if matching == "email":
            key = email_key(self.email)
            return [] if key is None else [key]
        if matching == "phone":
            return list(dict.fromkeys(phone_key(phone) for phone in self.phones))
        return [] if self.id is None else [str(self.id)]


def _same(stored: Any, given: Any) -> bool:
    """Equal and of one type: ``true`` replaces a stored ``1`` (Python holds ``1 == True``)."""
    return type(stored) is type(given) and stored == given


def normal_key(matching: Matching, key: str) -> str:
    """The form a matching key is looked up in."""
    if matching == "email":
        return email_key(key) or key
    if matching == "phone":
        return phone_key(key)
    return key


class Plan:
    """The batch's profiles, found by key, and the items applied to them in order."""

    def __init__(self, matching: Matching, stored: Iterable[ProfileState]) -> None:
        self.matching = matching
        #: Every profile the batch touches, stored ones first (ordered by id), then new ones.
        self.profiles: list[ProfileState] = sorted(stored, key=lambda state: state.age)
        self._by_key: dict[str, list[ProfileState]] = {}
        for state in self.profiles:
            self._index(state)

    def find(self, key: str) -> ProfileState | None:
        """The oldest profile that has the key now (stored ones are older than new ones)."""
        states = self._by_key.get(normal_key(self.matching, key))
        return states[0] if states else None

    def add(self, item: ImportInput) -> ProfileState:
        """A new profile: the key fills the field it came from when the data does not."""
        profile = item.profile
        email = profile.email
        phones = list(profile.phones)
        if self.matching == "email" and "email" not in profile.given:
            email = item.key
        if self.matching == "phone" and phone_key(item.key) not in {phone_key(phone) for phone in phones}:
            phones.insert(0, item.key)
        state = ProfileState(
            id=None,
            email=email,
            phones=phones,
            global_status=None if profile.global_status is None else int(profile.global_status),
            fields=dict(profile.fields),
            written=list(profile.subscriptions),
            position=len(self.profiles),
        )
        self.profiles.append(state)
        self._index(state)
        return state

    def update(self, state: ProfileState, profile: ProfileInput) -> None:
        """Set the fields ``profile`` gives, keep the others; upsert its subscriptions."""
        old_keys = state.keys(self.matching)
        if "email" in profile.given and profile.email != state.email:
            state.email, state.changed = profile.email, True
        if "phones" in profile.given and profile.phones != state.phones:
            state.phones, state.changed, state.phones_changed = list(profile.phones), True, True
        if "_status" in profile.given:
            status = None if profile.global_status is None else int(profile.global_status)
            if status != state.global_status:
                state.global_status, state.changed, state.flags_stale = status, True, True
        for name, value in profile.fields.items():
            if name not in state.fields or not _same(state.fields[name], value):
                state.fields[name], state.changed = value, True
        if state.id is None:
            state.written.extend(profile.subscriptions)
        else:
            for subscription in profile.subscriptions:
                self._upsert(state, subscription)
        if state.keys(self.matching) != old_keys:
            self._unindex(state, old_keys)
            self._index(state)

    def _upsert(self, state: ProfileState, subscription: SubscriptionInput) -> None:
        channel = CHANNEL_CODES[subscription.channel]
        identity = (subscription.resource_id, channel, address_key(subscription.address))
        stored = state.subscriptions.get(identity)
        status = int(subscription.status)
        if stored is not None and (stored.status, stored.priority, stored.is_deleted) == (
            status,
            subscription.priority,
            False,
        ):
            return  # counting.md: a write that changes nothing is not a change
        group = identity[:2]
        moment = state.moments.get(group, 0) + 1
        state.moments[group] = moment
        if stored is None:
            state.subscriptions[identity] = StoredSubscription(
                id=None,
                resource_id=subscription.resource_id,
                channel=channel,
                address=subscription.address,
                address_key=identity[2],
                status=status,
                priority=subscription.priority,
                is_deleted=False,
                change_seq=moment,
                changed=True,
            )
        else:
            stored.status, stored.priority, stored.is_deleted = status, subscription.priority, False
            stored.change_seq, stored.changed = moment, True
        state.flags_stale = True

    def _index(self, state: ProfileState) -> None:
        for key in state.keys(self.matching):
            states = self._by_key.setdefault(key, [])
            states.append(state)
            if len(states) > 1:
                states.sort(key=lambda other: other.age)

    def _unindex(self, state: ProfileState, keys: list[str]) -> None:
        for key in keys:
            states = self._by_key.get(key, [])
            if state in states:
                states.remove(state)
