"""API methods: profiles/add, add_batch, import, update, import_batch, get, delete, list;
subscriptions/set, delete, list, suspend_all."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, ValidationInfo, field_validator

from tally.capability import Capability
from tally.catalog.channels import ChannelName
from tally.catalog.routes import ListPage
from tally.errors import BadRequest, TallyError
from tally.profiles import service, upsert
from tally.profiles.input import (
    PROFILE_DATA,
    ImportInput,
    Matching,
    MatchingName,
    ProfileData,
    ProfileInput,
    SubscriptionData,
    import_item,
    import_items,
    match_key,
    profile_id_from,
)
from tally.store.engine import read_transaction, write_transaction
from tally.wire.codec import SUCCESS_TEXT
from tally.wire.listing import Listing
from tally.wire.methods import Call, Method
from tally.wire.params import Params, PositiveInt, XmlList, XmlObject, invalid, validate_each

MAX_BATCH = 10_000


def _batch_size(value: list[Any]) -> None:
    if not value:
        raise invalid("must list at least one profile")
    if len(value) > MAX_BATCH:
        raise invalid(f"must list at most {MAX_BATCH} profiles", shown=len(value))


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
        _batch_size(value)
        return [
            item if isinstance(item, TallyError) else item.to_input()
            for item in validate_each(PROFILE_DATA, value, info, "data")
        ]


class Matched(Params):
    """The matching key beside ``matching`` (api.md section 4, Matching)."""

    matching: MatchingName = Field("email", description="email (default), phone or profile_id")
    email: Any = Field(None, description="The key when matching by email (ignores case)")
    phone: Any = Field(None, description="The key when matching by phone (E.164 where it can be normalised)")
    profile_id: Any = Field(None, description="The key when matching by profile_id")

    def given_key(self) -> object:
        return getattr(self, self.matching)


class ProfileImport(Matched):
    db_id: PositiveInt = Field(description="Database id")
    data: Annotated[Any, XmlObject] = Field(
        description="Fields to set (absent ones are kept) and subscriptions to upsert; "
        "the key is read from here when it is not beside matching"
    )

    @field_validator("data")
    @classmethod
    def _item(cls, value: Any, info: ValidationInfo) -> ImportInput | Any:
        matching: Matching | None = info.data.get("matching")
        if matching is None:  # matching is invalid: its own error is the request's
            return value
        key = info.data.get(matching)
        return import_item(matching, value, key, xml=bool(info.context and info.context.get("xml")))


class ProfileImportBatch(Params):
    db_id: PositiveInt = Field(description="Database id")
    matching: MatchingName = Field("email", description="email (default), phone or profile_id")
    data: Annotated[list[Any], XmlList] = Field(description="Up to 10,000 profile data objects, each with its key")

    @field_validator("data")
    @classmethod
    def _items(cls, value: list[Any], info: ValidationInfo) -> list[ImportInput | TallyError]:
        _batch_size(value)
        matching: Matching = info.data.get("matching", "email")
        return import_items(matching, value, xml=bool(info.context and info.context.get("xml")))


class ProfileRef(Matched):
    """A profile by its id (the default for get and delete), or by email or phone in a database."""

    matching: MatchingName = Field("profile_id", description="profile_id (default), email or phone")
    db_id: PositiveInt | None = Field(None, description="Database id; required when matching by email or phone")


class ProfileList(ListPage):
    db_id: PositiveInt = Field(description="Database id")


class SubscriptionList(ListPage):
    db_id: PositiveInt = Field(description="Database id")
    profile_id: Any = Field(description="Profile id")


class SuspendAll(Params):
    db_id: PositiveInt = Field(description="Database id")
    resource_id: PositiveInt | None = Field(None, description="Only this resource's subscriptions")
    channel: ChannelName | None = Field(None, description="Only this channel's subscriptions")


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


def _imported(outcome: upsert.Imported | TallyError) -> dict[str, Any]:
    if isinstance(outcome, TallyError):
        return {"error": outcome.code, "error_text": outcome.text, "profile_id": ""}
    return {"error": 0, "error_text": SUCCESS_TEXT, "profile_id": str(outcome.profile_id)}


async def _import_one(call: Call, params: ProfileImport, *, create: bool) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        [outcome] = await upsert.profiles_import(
            conn, call.account_id, params.db_id, params.matching, [params.data], create=create
        )
    if isinstance(outcome, TallyError):
        raise outcome
    return {"profile_id": str(outcome.profile_id)}


async def profile_import(call: Call, params: ProfileImport) -> dict[str, Any]:
    return await _import_one(call, params, create=True)


async def profile_update(call: Call, params: ProfileImport) -> dict[str, Any]:
    return await _import_one(call, params, create=False)


async def profile_import_batch(call: Call, params: ProfileImportBatch) -> list[dict[str, Any]]:
    """Every item succeeds or fails alone; items with one key apply in order."""
    async with write_transaction(call.runtime.engine) as conn:
        outcomes = await upsert.profiles_import(conn, call.account_id, params.db_id, params.matching, params.data)
    return [_imported(outcome) for outcome in outcomes]


async def _find(conn: Any, call: Call, params: ProfileRef) -> int:
    key = params.given_key()
    if key is None:
        raise BadRequest(f"Missing parameter: {params.matching}")
    return await service.profile_find(
        conn, call.account_id, params.db_id, params.matching, match_key(params.matching, key, params.matching)
    )


async def profile_get(call: Call, params: ProfileRef) -> dict[str, Any]:
    async with read_transaction(call.runtime.engine) as conn:
        profile = await service.profile_get(conn, call.account_id, await _find(conn, call, params))
    return _profile_data(profile)


async def profile_list(call: Call, params: ProfileList) -> Listing:
    async with read_transaction(call.runtime.engine) as conn:
        page = await service.profiles_page(conn, call.account_id, params.db_id, params.from_id, params.limit)
    return Listing([_profile_data(profile) for profile in page.items], page.next_from_id, page.total_count)


def _profile_data(profile: service.Profile) -> dict[str, Any]:
    """api.md section 4: system fields, custom fields, then the subscriptions as written."""
    data: dict[str, Any] = {"email": profile.email, "phones": profile.phones}
    if profile.global_status is not None:
        data["_status"] = profile.global_status.word
    data.update(profile.fields)
    data["subscriptions"] = [_subscription_data(subscription) for subscription in profile.subscriptions]
    return {"profile_id": str(profile.id), "db_id": profile.database_id, "data": data}


async def profile_delete(call: Call, params: ProfileRef) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        await service.profile_delete(conn, call.account_id, await _find(conn, call, params))
    return {}


def _subscription_data(subscription: service.Subscription) -> dict[str, Any]:
    return {
        "resource_id": subscription.resource_id,
        "channel": subscription.channel,
        **subscription.address,
        "status": subscription.status.word,
        "priority": subscription.priority,
        "is_effective": subscription.is_effective,
    }


async def subscription_list(call: Call, params: SubscriptionList) -> Listing:
    async with read_transaction(call.runtime.engine) as conn:
        page = await service.subscriptions_page(
            conn, call.account_id, params.db_id, profile_id_from(params.profile_id), params.from_id, params.limit
        )
    return Listing([_subscription_data(item) for item in page.items], page.next_from_id, page.total_count)


async def subscription_suspend_all(call: Call, params: SuspendAll) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        changed = await service.subscriptions_suspend_all(
            conn, call.account_id, params.db_id, params.resource_id, params.channel
        )
    return {"changed": changed}


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
    Method("profiles/import", ProfileImport, profile_import,
           "Add a profile, or update the one its key matches (fields given are set, others kept)",
           example={"db_id": 5, "matching": "email", "email": "ann@example.org",
                    "data": {"_fname": "Anna", "_status": "subscribed",
                             "subscriptions": [{"resource_id": 24, "channel": "email",
                                                "email": "ann@example.org", "status": "unsubscribed"}]}},
           response_example={"profile_id": "101"}),
    Method("profiles/update", ProfileImport, profile_update,
           "Update the profile its key matches (404 when none does)",
           example={"db_id": 5, "matching": "phone", "phone": "+7 900 123-45-67", "data": {"city": "Tallinn"}},
           response_example={"profile_id": "101"}),
    Method("profiles/import_batch", ProfileImportBatch, profile_import_batch,
           "Add or update up to 10,000 profiles, each found by the key it holds; each succeeds or fails alone",
           example={"db_id": 5, "matching": "email", "data": [{"email": "ann@example.org", "city": "Tallinn"}]},
           response_example=[{"error": 0, "error_text": SUCCESS_TEXT, "profile_id": "101"}]),
    Method("profiles/get", ProfileRef, profile_get, "One profile with its subscriptions",
           example={"profile_id": "101"},
           response_example={"profile_id": "101", "db_id": 5, "data": {"email": "ann@example.org"}}, writes=False),
    Method("profiles/delete", ProfileRef, profile_delete, "Delete a profile",
           example={"profile_id": "101"}, response_example={}),
    Method("profiles/list", ProfileList, profile_list, "A database's profiles, paged by id",
           example={"db_id": 5, "from_id": 1, "limit": 100},
           response_example=Listing([{"profile_id": "101", "db_id": 5, "data": {"email": "ann@example.org"}}],
                                    next_from_id=0, total_count=1), writes=False),
    Method("subscriptions/set", SubscriptionWrite, subscription_set,
           "Add a subscription or change its status or priority",
           example=_SUBSCRIPTION, response_example={}),
    Method("subscriptions/delete", SubscriptionWrite, subscription_delete, "Delete a subscription",
           example=_SUBSCRIPTION, response_example={}),
    Method("subscriptions/list", SubscriptionList, subscription_list, "One profile's subscriptions",
           example={"db_id": 5, "profile_id": "101"},
           response_example=Listing([{k: v for k, v in _SUBSCRIPTION.items() if k not in ("db_id", "profile_id")}
                                     | {"is_effective": True}], next_from_id=0, total_count=1), writes=False),
    Method("subscriptions/suspend_all", SuspendAll, subscription_suspend_all,
           "Suspend every subscription of a database (of one resource, on one channel); how many changed",
           example={"db_id": 5, "resource_id": 24, "channel": "sms"}, response_example={"changed": 1}),
]  # fmt: skip

CAPABILITY = Capability("profiles", methods=METHODS)
