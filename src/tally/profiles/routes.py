"""API methods: profiles/add, add_batch, get, delete; subscriptions/set, delete."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator, model_validator

from tally.errors import BadRequest, TallyError, short_repr
from tally.profiles import service
from tally.profiles.input import ProfileInput, SubscriptionInput, parse_profile, parse_subscription
from tally.store.engine import read_transaction, write_transaction
from tally.wire.codec import SUCCESS_TEXT
from tally.wire.methods import Call, Method
from tally.wire.params import Params, PositiveInt, XmlList

MAX_BATCH = 10_000


def _is_xml(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("xml"))


def profile_id_from(value: object) -> int:
    """Profile ids are opaque strings; one that is not ours is simply not found."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if text.isascii() and text.isdigit() and 0 < len(text) <= 18:
        return int(text)
    raise service.ProfileNotFound(f"Profile not found: {short_repr(value)}")


class ProfileAdd(Params):
    db_id: PositiveInt = Field(description="Database id")
    data: Any = Field(description="Profile fields and its subscriptions list")

    @field_validator("data")
    @classmethod
    def _data(cls, value: Any, info: ValidationInfo) -> ProfileInput:
        return parse_profile(value, is_xml=_is_xml(info))


class ProfileAddBatch(Params):
    db_id: PositiveInt = Field(description="Database id")
    data: Annotated[list[Any], XmlList] = Field(description="Up to 10,000 profile data objects")

    @field_validator("data")
    @classmethod
    def _items(cls, value: list[Any], info: ValidationInfo) -> list[ProfileInput | TallyError]:
        if not value:
            raise ValueError("must list at least one profile")
        if len(value) > MAX_BATCH:
            raise BadRequest(f"Invalid parameter: data must list at most {MAX_BATCH} profiles, got {len(value)}")
        items: list[ProfileInput | TallyError] = []
        for index, item in enumerate(value):
            try:
                items.append(parse_profile(item, is_xml=_is_xml(info), path=f"data[{index}]"))
            except TallyError as error:
                items.append(error)
        return items


class ProfileRef(Params):
    profile_id: Any = Field(description="Profile id")


class SubscriptionWrite(Params):
    db_id: PositiveInt = Field(description="Database id")
    profile_id: Any = Field(description="Profile id")
    subscription: Any = Field(
        description="resource_id, channel, the channel's address fields, status, priority "
        "(given at the top level of the body)"
    )

    @model_validator(mode="before")
    @classmethod
    def _split(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, dict):
            return {
                **value,
                "subscription": parse_subscription(value, is_xml=_is_xml(info), path=""),
            }
        return value


async def profile_add(call: Call, params: ProfileAdd) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        [profile_id] = await service.profiles_add(conn, call.account_id, params.db_id, [params.data])
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
    subscription: SubscriptionInput = params.subscription
    async with write_transaction(call.runtime.engine) as conn:
        await service.subscription_set(
            conn, call.account_id, params.db_id, profile_id_from(params.profile_id), subscription
        )
    return {}


async def subscription_delete(call: Call, params: SubscriptionWrite) -> dict[str, Any]:
    subscription: SubscriptionInput = params.subscription
    async with write_transaction(call.runtime.engine) as conn:
        await service.subscription_delete(
            conn, call.account_id, params.db_id, profile_id_from(params.profile_id), subscription
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
