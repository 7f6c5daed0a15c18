"""Property test: random API writes (imports, updates, batches, ``_status`` changes,
subscription changes, suspensions, deletes), then a refresh, equal the reference model.

The scenario and the model are the backbone's (tests/counters/); this adds the writes of
profiles/import, update, import_batch and subscriptions/suspend_all, and applies each to
the model the way counting.md says: items in order, a write that changes nothing is no change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tests.counters.model import (
    CHANNELS,
    STATUS_WORDS,
    Op,
    Profile,
    ProfileSpec,
    SubSpec,
    ops,
    profile_specs,
    status_text,
    sub_specs,
    subscription_body,
)
from tests.counters.scenario import Scenario
from tests.counters.support import api_with_chunk_size
from tests.helpers import Api


@dataclass(frozen=True)
class ImportOp:
    """* import: profiles/import of profile ``profile`` (by profile_id, or by its email), or
      of a new profile, with ``_status`` and subscriptions;
    * update: profiles/update of ``_status`` only;
    * batch: profiles/import_batch of several items, some for the same profile;
    * suspend: subscriptions/suspend_all, of the main resource or all, of one channel or all.
    """

    kind: str
    profile: int
    global_status: str | None = None
    set_status: bool = False
    subs: tuple[SubSpec, ...] = ()
    items: tuple[tuple[int, str | None, bool, tuple[SubSpec, ...]], ...] = ()
    resource: str | None = None
    channel: str | None = None


global_statuses = st.one_of(st.none(), st.sampled_from(STATUS_WORDS))


@st.composite
def import_ops(draw: st.DrawFn) -> ImportOp:
    kind = draw(st.sampled_from(["import", "import", "update", "batch", "suspend"]))
    # -1 is a new profile.
    target = draw(st.integers(-1, 3))
    if kind == "suspend":
        return ImportOp(
            kind,
            0,
            resource=draw(st.sampled_from([None, "main"])),
            channel=draw(st.sampled_from([None, *CHANNELS])),
        )
    if kind == "update":
        return ImportOp(kind, max(target, 0), global_status=draw(global_statuses), set_status=True)
    if kind == "batch":
        items = draw(
            st.lists(
                st.tuples(
                    st.integers(-1, 3),
                    global_statuses,
                    st.booleans(),
                    st.lists(sub_specs(), max_size=3).map(tuple),
                ),
                min_size=1,
                max_size=5,
            )
        )
        return ImportOp(kind, 0, items=tuple(items))
    return ImportOp(
        kind,
        target,
        global_status=draw(global_statuses),
        set_status=draw(st.booleans()),
        subs=tuple(draw(st.lists(sub_specs(), max_size=4))),
    )


class ImportScenario(Scenario):
    """The backbone's scenario, with every profile given an email to be found by."""

    def email_of(self, profile: Profile) -> str:
        # By identity: two new profiles are equal dataclasses.
        return f"P{next(i for i, other in enumerate(self.model.profiles) if other is profile)}@Example.org"

    def _data(self, global_status: str | None, set_status: bool, subs: tuple[SubSpec, ...]) -> dict[str, Any]:
        data: dict[str, Any] = {
            "subscriptions": [subscription_body(self.resource_ids[sub.resource], sub, sub.spelling) for sub in subs]
        }
        if set_status:
            data["_status"] = None if global_status is None else status_text(global_status, len(subs))
        return data

    def _apply_to_model(
        self, profile: Profile, global_status: str | None, set_status: bool, subs: tuple[SubSpec, ...]
    ) -> None:
        # A null _status is an absent one (it keeps the stored status).
        if set_status and global_status is not None:
            profile.global_status = global_status
        for sub in subs:
            self.model.write(profile, sub.resource, sub.channel, sub.address_index, sub.status, sub.priority)

    def _target(self, index: int) -> Profile | None:
        live = [profile for profile in self.model.profiles if not profile.deleted]
        return None if index < 0 or not live else live[index % len(live)]

    async def apply_import(self, op: ImportOp) -> None:
        if op.kind == "suspend":
            await self._suspend(op)
        elif op.kind == "batch":
            await self._batch(op)
        else:
            await self._one(op)

    async def _one(self, op: ImportOp) -> None:
        profile = self._target(op.profile)
        data = self._data(op.global_status, op.set_status, op.subs)
        body: dict[str, Any] = {"db_id": self.database_id, "data": data}
        if profile is None and op.kind == "update":  # no live profile: nothing to update
            email = f"P{len(self.model.profiles)}@Example.org"
            body |= {"matching": "email", "email": email}
            envelope = await self.api.call("profiles/update", body)
            assert (envelope["error"], envelope["error_text"]) == (404, f"Profile not found: {email}")
            return
        if profile is None:
            profile = Profile(global_status=None)
            self.model.profiles.append(profile)
            body |= {"matching": "email", "email": self.email_of(profile)}
        elif op.profile % 2:
            body |= {"matching": "email", "email": self.email_of(profile).upper()}
        else:
            body |= {"matching": "profile_id", "profile_id": profile.profile_id}
        method = "profiles/update" if op.kind == "update" else "profiles/import"
        answer = await self.api.ok(method, body)
        if profile.profile_id:
            assert answer["profile_id"] == profile.profile_id
        profile.profile_id = answer["profile_id"]
        self._apply_to_model(profile, op.global_status, op.set_status, op.subs)

    async def _batch(self, op: ImportOp) -> None:
        items, targets = [], []
        for index, global_status, set_status, subs in op.items:
            profile = self._target(index)
            if profile is None:
                profile = Profile(global_status=None)
                self.model.profiles.append(profile)
            item = self._data(global_status, set_status, subs) | {"email": self.email_of(profile)}
            items.append(item)
            targets.append((profile, global_status, set_status, subs))
        results = await self.api.ok("profiles/import_batch", {"db_id": self.database_id, "data": items})
        assert [result["error"] for result in results] == [0] * len(items), results
        for (profile, global_status, set_status, subs), result in zip(targets, results, strict=True):
            assert profile.profile_id in ("", result["profile_id"])
            profile.profile_id = result["profile_id"]
            self._apply_to_model(profile, global_status, set_status, subs)

    async def _suspend(self, op: ImportOp) -> None:
        body: dict[str, Any] = {"db_id": self.database_id}
        if op.resource is not None:
            body["resource_id"] = self.resource_ids[op.resource]
        if op.channel is not None:
            body["channel"] = op.channel
        answer = await self.api.ok("subscriptions/suspend_all", body)
        changed = 0
        for profile in self.model.profiles:
            if profile.deleted:
                continue
            # Each changed one becomes more recent than the rest of its group, in its old order.
            for sub in sorted(profile.live_subs(), key=lambda sub: sub.changed_at):
                in_scope = op.resource in (None, sub.resource) and op.channel in (None, sub.channel)
                if in_scope and sub.status != "suspended":
                    self.model.clock += 1
                    sub.status, sub.changed_at = "suspended", self.model.clock
                    changed += 1
        assert answer == {"changed": changed}

    async def add_profiles(self, specs: list[ProfileSpec]) -> None:
        await super().add_profiles(specs)
        # Give every profile its email, by profile_id: an import that changes no counter.
        for profile in self.model.profiles:
            body = {"db_id": self.database_id, "matching": "profile_id", "profile_id": profile.profile_id}
            await self.api.ok("profiles/update", body | {"data": {"email": self.email_of(profile)}})


@pytest.fixture
async def chunked_api(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Api]:
    async with api_with_chunk_size(engine, settings, 3) as api:
        yield api


@hypothesis_settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    specs=st.lists(profile_specs, min_size=1, max_size=5),
    changes=st.lists(st.one_of(import_ops(), ops()), min_size=3, max_size=12),
)
async def test_random_imports_updates_and_suspensions_equal_the_reference(
    chunked_api: Api, specs: list[ProfileSpec], changes: list[ImportOp | Op]
) -> None:
    scenario = ImportScenario(chunked_api)
    await scenario.setup()
    await scenario.add_profiles(specs)
    for change in changes:
        if isinstance(change, ImportOp):
            await scenario.apply_import(change)
        else:
            await scenario.apply(change)
    await scenario.check()
    await scenario.check_effective_flags()
