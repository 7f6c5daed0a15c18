"""One counting scenario: a database, the resource counted, the test's model, and checks.

The database is linked to two resources, "main" (counted) and "other" (same channels,
never counted), and a second database holds a profile subscribed to "main" (never counted
in the first). Every check compares with the reference of tests/counters/model.py.
"""

from __future__ import annotations

from typing import Any

from tests.counters.model import (
    CHANNELS,
    Model,
    Op,
    Profile,
    ProfileSpec,
    SubSpec,
    check_invariants,
    effective,
    reference_channels,
    status_text,
    subscription_body,
)
from tests.counters.support import refresh
from tests.helpers import Api

NOT_ADDRESS = {"resource_id", "channel", "status", "priority", "is_effective"}


class Scenario:
    """One example: a database with the main resource, another resource, and a noise database."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.model = Model()
        self.database_id = 0
        self.noise_database_id = 0
        self.resource_ids: dict[str, int] = {}

    async def setup(self) -> None:
        api = self.api
        self.database_id = (await api.ok("databases/add", {"name": "Customers"}))["id"]
        self.noise_database_id = (await api.ok("databases/add", {"name": "Noise"}))["id"]
        for name, dbs in (("main", [self.database_id, self.noise_database_id]), ("other", [self.database_id])):
            body = {"name": name, "channels": list(reversed(CHANNELS)), "dbs_ids": dbs}
            self.resource_ids[name] = (await api.ok("resources/add", body))["id"]
        await self.add_noise(1)

    async def add_noise(self, count: int) -> None:
        """Profiles of another database, subscribed to the main resource: never counted here."""
        noise = {"resource_id": self.resource_ids["main"], "channel": "email", "email": "noise@example.org"}
        items = [{"subscriptions": [noise]}] * count
        results = await self.api.ok("profiles/add_batch", {"db_id": self.noise_database_id, "data": items})
        assert [result["error"] for result in results] == [0] * count

    async def add_profiles(self, specs: list[ProfileSpec]) -> None:
        """Add profiles with one profiles/add_batch, and to the model."""
        first = len(self.model.profiles)
        items = []
        for spec in specs:
            profile = Profile(global_status=spec.global_status)
            item: dict[str, Any] = {"subscriptions": []}
            if spec.global_status is not None:
                item["_status"] = status_text(spec.global_status, spec.spelling)
            for sub in spec.subs:
                self.model.write(profile, sub.resource, sub.channel, sub.address_index, sub.status, sub.priority)
                item["subscriptions"].append(subscription_body(self.resource_ids[sub.resource], sub, sub.spelling))
            self.model.profiles.append(profile)
            items.append(item)
        results = await self.api.ok("profiles/add_batch", {"db_id": self.database_id, "data": items})
        assert [result["error"] for result in results] == [0] * len(items), results
        for profile, result in zip(self.model.profiles[first:], results, strict=True):
            profile.profile_id = result["profile_id"]

    async def apply(self, op: Op) -> None:
        profile = self.model.profiles[op.profile % len(self.model.profiles)]
        ref = {"db_id": self.database_id, "profile_id": profile.profile_id}
        if op.kind == "delete_profile":
            envelope = await self.api.call("profiles/delete", {"profile_id": profile.profile_id})
            assert envelope["error"] == (404 if profile.deleted else 0), envelope
            profile.deleted = True
            return
        if op.kind == "set":
            assert op.sub is not None
            body = subscription_body(self.resource_ids[op.sub.resource], op.sub, op.sub.spelling)
            envelope = await self.api.call("subscriptions/set", {**ref, **body})
            if profile.deleted:
                assert envelope["error"] == 404, envelope
                return
            assert envelope["error"] == 0, envelope
            sub = op.sub
            self.model.write(profile, sub.resource, sub.channel, sub.address_index, sub.status, sub.priority)
            return
        # The other changes pick among the subscriptions of all live profiles.
        deleted = op.kind == "revive"
        candidates = [
            (owner, sub)
            for owner in self.model.profiles
            if not owner.deleted
            for sub in owner.subs.values()
            if sub.deleted is deleted
            # Re-setting a subscription that is not effective is the case where a write
            # wrongly taken as a change would make it effective (when its priority ties).
            and not (op.kind == "reset" and sub is effective(owner, sub.resource, sub.channel))
        ]
        if not candidates:
            return
        profile, target = candidates[op.pick % len(candidates)]
        ref = {"db_id": self.database_id, "profile_id": profile.profile_id}
        if op.kind == "delete_sub":
            body = subscription_body(self.resource_ids[target.resource], target, op.pick)
            await self.api.ok("subscriptions/delete", {**ref, **body})
            self.model.delete(target)
            return
        status = op.status or target.status
        priority = target.priority if op.priority is None else op.priority
        changed = SubSpec(target.resource, target.channel, target.address_index, status, op.pick, priority)
        if op.kind == "reset":
            # The same values again, in another spelling: not a change.
            assert (status, priority) == (target.status, target.priority)
        body = subscription_body(self.resource_ids[target.resource], changed, op.pick)
        await self.api.ok("subscriptions/set", {**ref, **body})
        was_change = self.model.write(profile, target.resource, target.channel, target.address_index, status, priority)
        if op.kind == "reset":
            assert not was_change
        if op.kind == "revive":
            assert was_change

    async def check(self) -> dict[str, Any]:
        """Recount, then refresh from the maintained counts: both must equal the reference.
        Returns the refresh's tasks/status data."""
        expected = reference_channels(self.model, CHANNELS)
        recounted = await refresh(self.api, self.database_id, self.resource_ids["main"], recount=True)
        assert recounted["result"][0]["channels"] == expected, "the recount differs from the reference"
        status = await refresh(self.api, self.database_id, self.resource_ids["main"])
        [element] = status["result"]
        assert element["channels"] == expected, "the maintained counts differ from the reference"
        live = sum(not profile.deleted for profile in self.model.profiles)
        assert element["total_count"] == live
        check_invariants(element["channels"], element["total_count"])
        stored = await self.api.ok(
            "databases/get_counters", {"id": self.database_id, "resource_id": self.resource_ids["main"]}
        )
        assert stored == expected
        return status

    async def check_effective_flags(self) -> None:
        """profiles/get marks, per (resource, channel), the subscription the model calls effective."""
        names = {resource_id: name for name, resource_id in self.resource_ids.items()}
        for profile in self.model.profiles:
            if profile.deleted:
                continue
            data = (await self.api.ok("profiles/get", {"profile_id": profile.profile_id}))["data"]
            shown = data["subscriptions"]
            assert len(shown) == len(profile.live_subs())
            for item in shown:
                resource = names[item["resource_id"]]
                address = {key: value for key, value in item.items() if key not in NOT_ADDRESS}
                [sub] = [
                    sub
                    for sub in profile.live_subs()
                    if (sub.resource, sub.channel, sub.address) == (resource, item["channel"], address)
                ]
                assert (item["status"], item["priority"]) == (sub.status, sub.priority)
                assert item["is_effective"] is (sub is effective(profile, resource, sub.channel)), (item, profile)
