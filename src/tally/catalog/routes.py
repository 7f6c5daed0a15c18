"""API methods of the catalog: databases/* and resources/* (add, get, list, update, delete)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, field_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.capability import Capability
from tally.catalog import queries, service
from tally.catalog.channels import CHANNEL_CODES
from tally.config import Settings
from tally.queue.registry import MaintenancePass
from tally.store.engine import read_transaction, write_transaction
from tally.wire.listing import Listing
from tally.wire.methods import Call, Method
from tally.wire.params import NonNegativeInt, Params, PositiveInt, Text, XmlList, page_limit

DEFAULT_PAGE_LIMIT = 1000
MAX_PAGE_LIMIT = 10_000
CHANNEL_LIST = ", ".join(CHANNEL_CODES)


MAX_DESCRIPTION = 10_000


def _name(value: str | None) -> str | None:
    if value is None:  # an update's absent (or null) name
        return None
    value = value.strip()
    if not value or len(value) > 200:
        raise ValueError("must be a non-empty string of at most 200 characters")
    return value


def _description(value: str | None) -> str | None:
    if value is not None and len(value) > MAX_DESCRIPTION:
        raise ValueError(f"must be at most {MAX_DESCRIPTION} characters")
    return value


class DatabaseAdd(Params):
    name: Text = Field(description="Name of the new database")
    description: Text = Field("", description="Free text")

    _check_name = field_validator("name")(_name)
    _check_description = field_validator("description")(_description)


class ById(Params):
    id: PositiveInt = Field(description="Object id")


class ListPage(Params):
    from_id: NonNegativeInt = Field(1, description="First id of the page")
    limit: Annotated[NonNegativeInt, page_limit(MAX_PAGE_LIMIT)] = Field(
        DEFAULT_PAGE_LIMIT, description=f"Items per page (at most {MAX_PAGE_LIMIT})"
    )


class DatabaseUpdate(Params):
    id: PositiveInt = Field(description="Database id")
    name: Text | None = Field(None, description="New name (absent or null: unchanged)")
    description: Text | None = Field(None, description="New free text (absent or null: unchanged)")

    _check_name = field_validator("name")(_name)
    _check_description = field_validator("description")(_description)


def _channels(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    if not value:
        raise ValueError("must name at least one channel")
    for channel in value:
        if channel not in CHANNEL_CODES:
            raise ValueError(f"must list channels among {CHANNEL_LIST}")
    return value


class ResourceAdd(Params):
    name: Text = Field(description="Name of the new resource")
    channels: Annotated[list[Text], XmlList] = Field(description=f"Channels: {CHANNEL_LIST}")
    dbs_ids: Annotated[list[PositiveInt], XmlList] = Field(
        default_factory=list, description="Databases the resource is linked to"
    )

    _check_name = field_validator("name")(_name)
    _check_channels = field_validator("channels")(_channels)


class ResourceUpdate(Params):
    id: PositiveInt = Field(description="Resource id")
    name: Text | None = Field(None, description="New name (absent or null: unchanged)")
    channels: Annotated[list[Text], XmlList] | None = Field(
        None, description=f"The full new list of channels ({CHANNEL_LIST}); absent: unchanged"
    )
    dbs_ids: Annotated[list[PositiveInt], XmlList] | None = Field(
        None, description="The full new list of linked databases ([] unlinks all); absent: unchanged"
    )

    _check_name = field_validator("name")(_name)
    _check_channels = field_validator("channels")(_channels)


async def database_add(call: Call, params: DatabaseAdd) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        return {"id": await service.database_add(conn, call.account_id, params.name, params.description)}


async def database_get(call: Call, params: ById) -> dict[str, Any]:
    async with read_transaction(call.runtime.engine) as conn:
        return _database_data(await service.database_get(conn, call.account_id, params.id))


async def database_list(call: Call, params: ListPage) -> Listing:
    async with read_transaction(call.runtime.engine) as conn:
        page = await service.database_list(conn, call.account_id, params.from_id, params.limit)
    return _listing([_database_data(item) for item in page.items], page)


async def database_update(call: Call, params: DatabaseUpdate) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        updated = await service.database_update(
            conn, call.account_id, params.id, name=params.name, description=params.description
        )
    return _database_data(updated)


async def database_delete(call: Call, params: ById) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        await service.database_delete(conn, call.account_id, params.id)
    return {}


async def resource_add(call: Call, params: ResourceAdd) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        resource_id = await service.resource_add(conn, call.account_id, params.name, params.channels, params.dbs_ids)
    return {"id": resource_id}


async def resource_get(call: Call, params: ById) -> dict[str, Any]:
    async with read_transaction(call.runtime.engine) as conn:
        return _resource_data(await service.resource_get(conn, call.account_id, params.id))


async def resource_list(call: Call, params: ListPage) -> Listing:
    async with read_transaction(call.runtime.engine) as conn:
        page = await service.resource_list(conn, call.account_id, params.from_id, params.limit)
    return _listing([_resource_data(item) for item in page.items], page)


async def resource_update(call: Call, params: ResourceUpdate) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        updated = await service.resource_update(
            conn,
            call.account_id,
            params.id,
            name=params.name,
            channels=params.channels,
            database_ids=params.dbs_ids,
        )
    return _resource_data(updated)


async def resource_delete(call: Call, params: ById) -> dict[str, Any]:
    async with write_transaction(call.runtime.engine) as conn:
        await service.resource_delete(conn, call.account_id, params.id)
    return {}


def _database_data(linked: service.Linked[service.Database]) -> dict[str, Any]:
    database = linked.item
    return {
        "id": database.id,
        "name": database.name,
        "description": database.description,
        "profiles_count": database.profiles_count,
        "resources_ids": linked.linked_ids,
    }


def _resource_data(linked: service.Linked[service.Resource]) -> dict[str, Any]:
    resource = linked.item
    return {"channels": list(resource.channels), "dbs_ids": linked.linked_ids, "id": resource.id, "name": resource.name}


def _listing(items: list[dict[str, Any]], page: service.Page[Any]) -> Listing:
    return Listing(items, next_from_id=page.next_from_id, total_count=page.total_count)


_DATABASE = {
    "id": 5,
    "name": "Customers",
    "description": "",
    "profiles_count": 1336,
    "resources_ids": [24],
}
_RESOURCE = {"channels": ["email", "push", "sms"], "dbs_ids": [5], "id": 24, "name": "Newsletter"}

METHODS = [
    Method("databases/add", DatabaseAdd, database_add, "Create a profile database (ext)",
           example={"name": "Customers"}, response_example={"id": 5}),
    Method("databases/get", ById, database_get, "One database",
           example={"id": 5}, response_example=_DATABASE, writes=False),
    Method("databases/list", ListPage, database_list, "The account's databases, a page at a time",
           example={"from_id": 1, "limit": 100},
           response_example=Listing([_DATABASE], next_from_id=0, total_count=1), writes=False),
    Method("databases/update", DatabaseUpdate, database_update, "Rename or redescribe a database (ext)",
           description="Fields absent (or null) stay as they are. Answers the database as databases/get does.",
           example={"id": 5, "name": "Customers (EU)", "description": "Shop and newsletter sign-ups"},
           response_example={**_DATABASE, "name": "Customers (EU)", "description": "Shop and newsletter sign-ups"}),
    Method("databases/delete", ById, database_delete,
           "Delete a database with its profiles, subscriptions and counters (ext)",
           description="409 while a task of the database (a refresh) is queued or running.",
           example={"id": 5}, response_example={}),
    Method("resources/add", ResourceAdd, resource_add, "Create a resource and link it to databases (ext)",
           example={"name": "Newsletter", "channels": ["email", "sms", "push"], "dbs_ids": [5]},
           response_example={"id": 24}),
    Method("resources/get", ById, resource_get, "One resource",
           example={"id": 24}, response_example=_RESOURCE, writes=False),
    Method("resources/list", ListPage, resource_list, "The account's resources, a page at a time",
           example={"from_id": 1, "limit": 100},
           response_example=Listing([_RESOURCE], next_from_id=0, total_count=1), writes=False),
    Method("resources/update", ResourceUpdate, resource_update,
           "Rename a resource, or replace its channels or its databases (ext)",
           description="channels and dbs_ids are the full new lists; absent fields stay as they are. "
           "Removing a channel that live subscriptions use, or a database holding live subscriptions "
           "to the resource (or a queued or running refresh of the pair), is 409. Answers the "
           "resource as resources/get does.",
           example={"id": 24, "name": "Weekly newsletter", "channels": ["email", "sms"], "dbs_ids": [5]},
           response_example={**_RESOURCE, "name": "Weekly newsletter", "channels": ["email", "sms"]}),
    Method("resources/delete", ById, resource_delete,
           "Delete a resource with its subscriptions and counters (ext)",
           description="409 while a task of the resource (a refresh) is queued or running.",
           example={"id": 24}, response_example={}),
]  # fmt: skip


async def _fold_profile_counts(conn: AsyncConnection, now: datetime, settings: Settings) -> None:
    await queries.profile_count_fold(conn)


CAPABILITY = Capability(
    "catalog",
    methods=METHODS,
    maintenance=[MaintenancePass("profile counts", _fold_profile_counts)],
)
