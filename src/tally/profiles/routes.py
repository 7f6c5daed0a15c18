"""API methods: profiles/add, add_batch, get, delete; subscriptions/set, delete."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator

from tally.capability import Capability
from tally.errors import TallyError, short_repr
from tally.profiles import service
from tally.profiles.input import PROFILE_DATA, ProfileData, ProfileInput, SubscriptionData
from tally.store.engine import read_transaction, write_transaction
from tally.wire.codec import SUCCESS_TEXT
from tally.wire.methods import Call, Method
from tally.wire.params import Params, PositiveInt, XmlList, XmlObject, invalid, validate_each

MAX_BATCH = 10_000


def profile_id_from(value: object) -> int:
    """Profile ids are opaque strings; one that is not ours is simply not found."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if text.isascii() and text.isdigit() and 0 < len(text) <= 18:
        return int(text)
    raise service.ProfileNotFound(f"Profile not found: {short_repr(value)}")


class ProfileAdd(Params):
    db_id: PositiveInt = Field(description="Database id")
    data: Annotated[ProfileData, XmlObject] = Field(description="Profile fields and its subscriptions list")


class ProfileAddBatch(Params):
    db_id: PositiveInt = Field(description="Database id")
    data: Annotated[list[Any], XmlList] = Field(description="Up to 10,000 profile data objects")

    @field_validator("data")
    @classmethod
    def _items(cls, value: list[Any], info: ValidationInfo) -> list[ProfileInput | TallyError]:
        """Each item is validated alone, so that one bad item fails alone."""
        if not value:
            raise invalid("must list at least one profile")
        if len(value) > MAX_BATCH:
            raise invalid(f"must list at most {MAX_BATCH} profiles", shown=len(value))
        return [
            item if isinstance(item, TallyError) else item.to_input()
            for item in validate_each(PROFILE_DATA, value, info, "data")
        ]


class ProfileRef(Params):
    profile_id: Any = Field(description="Profile id")


class SubscriptionWrite(SubscriptionData, Params):
    """The subscription's fields stand at the top level of the body, beside db_id and profile_id."""

    db_id: PositiveInt = Field(description="Database id")
    profile_id: Any = Field(description="Profile id")


async def profile_add(call: Call, params: ProfileAdd) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        [profile_id] = await service.profiles_add(conn, call.account_id, params.db_id, [params.data.to_input()])
    return {"profile_id": str(profile_id)}


async def profile_add_batch(call: Call, params: ProfileAddBatch) -> list[dict[str, Any]]:
    """Every item succeeds or fails alone; the valid ones go in with one insert."""
    async with write_transaction(call.runtime.engine) as conn:
        outcomes = await service.profiles_add_batch(conn, call.account_id, params.db_id, params.data)
    return [
        {"error": outcome.code, "error_text": outcome.text, "profile_id": ""}
        if isinstance(outcome, TallyError)
        else {"error": 0, "error_text": SUCCESS_TEXT, "profile_id": str(outcome)}
        for outcome in outcomes
    ]


async def profile_get(call: Call, params: ProfileRef) -> dict[str, Any]:
    async with read_transaction(call.runtime.engine) as conn:
        profile = await service.profile_get(conn, call.account_id, profile_id_from(params.profile_id))
    return _profile_data(profile)


def _profile_data(profile: service.Profile) -> dict[str, Any]:
    """api.md section 4: system fields, custom fields, then the subscriptions as written."""
    data: dict[str, Any] = {"email": profile.email, "phones": profile.phones}
    if profile.global_status is not None:
        data["_status"] = profile.global_status.word
    data.update(profile.fields)
    data["subscriptions"] = [
        {
            "resource_id": subscription.resource_id,
            "channel": subscription.channel,
            **subscription.address,
            "status": subscription.status.word,
            "priority": subscription.priority,
            "is_effective": subscription.is_effective,
        }
        for subscription in profile.subscriptions
    ]
    return {"profile_id": str(profile.id), "db_id": profile.database_id, "data": data}


async def profile_delete(call: Call, params: ProfileRef) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        await service.profile_delete(conn, call.account_id, profile_id_from(params.profile_id))
    return {}


async def subscription_set(call: Call, params: SubscriptionWrite) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        await service.subscription_set(
            conn, call.account_id, params.db_id, profile_id_from(params.profile_id), params.to_input()
        )
    return {}


async def subscription_delete(call: Call, params: SubscriptionWrite) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        await service.subscription_delete(
            conn, call.account_id, params.db_id, profile_id_from(params.profile_id), params.to_input()
        )
    return {}


_PROFILE = {
    "email": "ann@example.org",
    "phones": ["+79001234567"],
    "_fname": "Ann",
    "_status": "subscribed",
    "city": "Riga",
    "subscriptions": [
        {
            "resource_id": 24,
            "channel": "email",
            "email": "ann@example.org",
            "status": "subscribed",
            "priority": 0,
        },
        {"resource_id": 24, "channel": "sms", "phone": "+79001234567", "status": 4},
    ],
}
_SUBSCRIPTION = {
    "db_id": 5,
    "profile_id": "101",
    "resource_id": 24,
    "channel": "email",
    "email": "ann@example.org",
    "status": "unsubscribed",
    "priority": 0,
}

METHODS = [
    Method("profiles/add", ProfileAdd, profile_add, "Add one profile with its subscriptions",
           example={"db_id": 5, "data": _PROFILE}, response_example={"profile_id": "101"}),
    Method("profiles/add_batch", ProfileAddBatch, profile_add_batch,
           "Add up to 10,000 profiles; each item succeeds or fails alone",
           example={"db_id": 5, "data": [_PROFILE]},
           response_example=[{"error": 0, "error_text": SUCCESS_TEXT, "profile_id": "101"}]),
    Method("profiles/get", ProfileRef, profile_get, "One profile with its subscriptions",
           example={"profile_id": "101"},
           response_example={"profile_id": "101", "db_id": 5, "data": {"email": "ann@example.org"}}),
    Method("profiles/delete", ProfileRef, profile_delete, "Delete a profile",
           example={"profile_id": "101"}, response_example={}),
    Method("subscriptions/set", SubscriptionWrite, subscription_set,
           "Add a subscription or change its status or priority",
           example=_SUBSCRIPTION, response_example={}),
    Method("subscriptions/delete", SubscriptionWrite, subscription_delete, "Delete a subscription",
           example=_SUBSCRIPTION, response_example={}),
]  # fmt: skip

CAPABILITY = Capability("profiles", methods=METHODS)
