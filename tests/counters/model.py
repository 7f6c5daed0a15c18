"""The tests' own model of profiles and subscriptions, and the counters it implies.

Nothing here reads the database: the model follows what the tests sent, and
``reference_channels`` computes every counter of counting.md from it in the plainest way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

STATUS_KEYS = [
    "all",
    "complained",
    "hardbounced",
    "invalid",
    "subscribed",
    "subscribed_sendable",
    "suspended",
    "unconfirmed",
    "unconfirmed_sendable",
    "unsubscribed",
]
STATUS_WORDS = ["subscribed", "unsubscribed", "complained", "hardbounced", "unconfirmed", "suspended", "invalid"]
BLOCKING_WORDS = {"unsubscribed", "complained", "hardbounced", "suspended", "invalid"}

#: Per channel: addresses, each with whether counting.md calls it deliverable.
ADDRESSES: dict[str, list[tuple[dict[str, Any], bool]]] = {
    "email": [
        ({"email": "ann@example.org"}, True),
        ({"email": "bob@mail.example.com"}, True),
        ({"email": "carl@example"}, False),
        ({"email": "dora@example.org\n"}, False),
        ({"email": " eve@example.org"}, False),
        ({"email": "fay@@example.org"}, False),
        ({}, False),
    ],
    "sms": [
        ({"phone": "+79001234567"}, True),
        ({"phone": "+1234567"}, True),
        ({"phone": "79001234567"}, False),
        ({"phone": "+123456"}, False),
        ({"phone": "+1234567890123456"}, False),
        ({"phone": "+7 900 123 45 67"}, False),
    ],
    "push": [
        ({"provider": "android-firebase", "subscription_id": "fcm:1"}, True),
        ({"provider": "apns", "subscription_id": "token-2"}, True),
        ({"provider": "", "subscription_id": "fcm:3"}, False),
        ({"provider": "android-firebase"}, False),
        ({"subscription_id": "fcm:5"}, False),
    ],
    "telegram_bot": [
        ({"cc_data": {"id": "1001"}}, True),
        ({"cc_data": {"id": 1002}}, True),
        ({"cc_data": {"phone": "+79001234567"}}, True),
        ({"cc_data": {"id": "", "phone": "+1234567"}}, True),
        ({"cc_data": {"phone": "123"}}, False),
        ({"cc_data": {"id": ""}}, False),
        ({"cc_data": {}}, False),
    ],
}
CHANNELS = sorted(ADDRESSES)


def status_text(word: str, spelling: int) -> Any:
    """A status as the API accepts it: the word, in upper case, its number, its digits."""
    number = STATUS_WORDS.index(word)
    return [word, word.upper(), number, str(number)][spelling % 4]


@dataclass
class Sub:
    resource: str
    channel: str
    address_index: int
    status: str
    priority: int
    changed_at: int
    deleted: bool = False

    @property
    def address(self) -> dict[str, Any]:
        return ADDRESSES[self.channel][self.address_index][0]

    @property
    def deliverable(self) -> bool:
        return ADDRESSES[self.channel][self.address_index][1]


@dataclass
class Profile:
    global_status: str | None
    subs: dict[tuple[str, str, int], Sub] = field(default_factory=dict)
    deleted: bool = False
    profile_id: str = ""

    def live_subs(self) -> list[Sub]:
        return [sub for sub in self.subs.values() if not sub.deleted]


class Model:
    """Profiles as the test wrote them; ``clock`` orders every change."""

    def __init__(self) -> None:
        self.profiles: list[Profile] = []
        self.clock = 0

    def write(
        self, profile: Profile, resource: str, channel: str, address_index: int, status: str, priority: int
    ) -> bool:
        """Apply one subscription write; True if it was a change (counting.md)."""
        self.clock += 1
        key = (resource, channel, address_index)
        sub = profile.subs.get(key)
        if sub is not None and not sub.deleted and (sub.status, sub.priority) == (status, priority):
            return False
        profile.subs[key] = Sub(resource, channel, address_index, status, priority, changed_at=self.clock)
        return True

    def delete(self, sub: Sub) -> None:
        self.clock += 1
        sub.deleted = True
        sub.changed_at = self.clock


def effective(profile: Profile, resource: str, channel: str) -> Sub | None:
    """Lowest priority number, then the most recent change (every change has its own moment)."""
    group = [sub for sub in profile.live_subs() if sub.resource == resource and sub.channel == channel]
    if not group:
        return None
    return min(group, key=lambda sub: (sub.priority, -sub.changed_at))


def reference_channels(model: Model, channels: list[str]) -> list[dict[str, Any]]:
    live = [profile for profile in model.profiles if not profile.deleted]
    result = []
    for channel in sorted(channels):
        counts = dict.fromkeys(STATUS_KEYS, 0)
        counts["all"] = len(live)
        for profile in live:
            sub = effective(profile, "main", channel)
            if sub is None:
                continue
            counts[sub.status] += 1
            blocked = profile.global_status in BLOCKING_WORDS
            if sub.status in ("subscribed", "unconfirmed") and sub.deliverable and not blocked:
                counts[f"{sub.status}_sendable"] += 1
        result.append({"channel": channel, "status": counts})
    return result


def check_invariants(channels: list[dict[str, Any]], total_count: int) -> None:
    """The invariants of counting.md that hold for any data."""
    alls = {entry["status"]["all"] for entry in channels}
    assert alls == {total_count}, channels
    for entry in channels:
        status = entry["status"]
        assert list(status) == STATUS_KEYS
        assert all(isinstance(value, int) and value >= 0 for value in status.values())
        assert sum(status[word] for word in STATUS_WORDS) <= status["all"], entry
        assert status["subscribed_sendable"] <= status["subscribed"], entry
        assert status["unconfirmed_sendable"] <= status["unconfirmed"], entry


# --- Strategies --------------------------------------------------------------------------


@dataclass(frozen=True)
class SubSpec:
    """One subscription write. ``resource`` is "main" (the one counted) or "other" (linked to
    the same database, never counted)."""

    resource: str
    channel: str
    address_index: int
    status: str
    spelling: int
    priority: int


@dataclass(frozen=True)
class ProfileSpec:
    global_status: str | None
    spelling: int
    subs: tuple[SubSpec, ...]


@dataclass(frozen=True)
class Op:
    """One change; ``profile`` and ``pick`` are indexes that wrap around.

    * set: write ``sub`` to profile ``profile`` (a new subscription, or a change of one);
    * change: give live subscription ``pick`` (of all live profiles) ``status`` and/or
      ``priority`` (None keeps it);
    * reset: write a live subscription that is not effective again with its own values
      (not a change);
    * revive: write a deleted subscription again with the values it had;
    * delete_sub: delete live subscription ``pick``; delete_profile: profile ``profile``.
    """

    kind: str
    profile: int
    pick: int = 0
    sub: SubSpec | None = None
    status: str | None = None
    priority: int | None = None


#: Half of the subscriptions may be sendable, so that the sendable counters are exercised.
statuses = st.one_of(st.sampled_from(["subscribed", "unconfirmed"]), st.sampled_from(STATUS_WORDS))


@st.composite
def sub_specs(draw: st.DrawFn) -> SubSpec:
    channel = draw(st.sampled_from(CHANNELS))
    return SubSpec(
        resource="other" if draw(st.integers(0, 5)) == 0 else "main",
        channel=channel,
        # A few addresses per channel, so that rewrites of one subscription are frequent.
        address_index=draw(st.integers(0, len(ADDRESSES[channel]) - 1)),
        status=draw(statuses),
        spelling=draw(st.integers(0, 3)),
        # Few priorities, so that ties are frequent.
        priority=draw(st.integers(0, 2)),
    )


profile_specs = st.builds(
    ProfileSpec,
    global_status=st.one_of(st.none(), st.none(), st.sampled_from(STATUS_WORDS)),
    spelling=st.integers(0, 3),
    subs=st.lists(sub_specs(), max_size=7).map(tuple),
)

indexes = st.integers(0, 50)
#: Changes go to the first few profiles, so that they pile up on the same subscriptions.
targets = st.integers(0, 3)
#: Kinds of change, weighted: profile deletions are rare so that changes have profiles to go to.
KINDS = ["set", "set", "change", "change", "reset", "delete_sub", "delete_sub", "revive", "revive", "delete_profile"]


@st.composite
def ops(draw: st.DrawFn) -> Op:
    kind = draw(st.sampled_from(KINDS))
    if kind == "set":
        return Op(kind, draw(targets), sub=draw(sub_specs()))
    if kind == "change":
        status = draw(st.none() | statuses)
        return Op(kind, 0, draw(indexes), status=status, priority=draw(st.none() | st.integers(0, 2)))
    if kind == "delete_profile":
        return Op(kind, draw(st.integers(0, 7)))
    return Op(kind, 0, draw(indexes))


def subscription_body(resource_id: int, spec: SubSpec | Sub, spelling: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resource_id": resource_id,
        "channel": spec.channel,
        **ADDRESSES[spec.channel][spec.address_index][0],
        "status": status_text(spec.status, spelling),
    }
    # Priority 0 is the default: sometimes leave it out, sometimes send it as digits.
    if spec.priority or spelling % 2:
        body["priority"] = spec.priority if spelling < 2 else str(spec.priority)
    return body
