"""A profile's ``data`` and a subscription as requests give them (api.md section 4).

Pydantic models built from the shared field types (wire/params.py, the status and channel
types), and the typed input they become: ``ProfileInput`` and ``SubscriptionInput``, what
the service takes (and what the demo data and the benchmarks build directly). Errors name
the exact field (``data.subscriptions[1].status``) and the value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from tally.catalog.channels import ADDRESS_FIELDS, ChannelName
from tally.errors import BadRequest, NotFound, TallyError, short_repr
from tally.profiles.statuses import Status, StatusValue
from tally.wire.params import (
    MAX_TEXT,
    PositiveInt,
    Priority,
    Scalar,
    Text,
    XmlList,
    XmlObject,
    bad_request,
    invalid,
    location_name,
    max_length,
)

FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
#: The profile's own ``email`` field (the column is ``String(320)``, RFC 5321's limit).
MAX_PROFILE_EMAIL = 320
#: Keys of a profile's data that are not custom fields.
RESERVED = frozenset({"email", "phones", "_status", "subscriptions"})
#: Every key that is an address field of some channel.
ADDRESS_KEYS = frozenset(name for names in ADDRESS_FIELDS.values() for name in names)

FieldText = Annotated[Text, max_length(MAX_TEXT)]
#: A profile's phone numbers are looked up by (profiles_with_phone): kept short enough to index.
MAX_PHONE = 64


@dataclass(frozen=True)
class SubscriptionInput:
    resource_id: int
    channel: str
    address: dict[str, Any]
    status: Status = Status.SUBSCRIBED
    priority: int = 0


#: The system fields a write may leave out (custom fields are given by being in ``fields``).
SYSTEM_FIELDS = frozenset({"email", "phones", "_status"})


@dataclass(frozen=True)
class ProfileInput:
    email: str | None
    phones: list[str]
    global_status: Status | None
    fields: dict[str, Any]
    subscriptions: list[SubscriptionInput] = field(default_factory=list)
    #: Which system fields the request gave: an import sets those and keeps the others.
    given: frozenset[str] = SYSTEM_FIELDS


def _without(value: Mapping[str, Any], keys: list[str]) -> Mapping[str, Any]:
    return {key: item for key, item in value.items() if key not in keys} if keys else value


def _blanks(value: Mapping[str, Any], names: tuple[str, ...]) -> list[str]:
    """A null or empty (``<status/>``) optional value is an absent one: it takes the default."""
    return [name for name in names if name in value and (value[name] is None or value[name] == "")]


class CcData(BaseModel):
    """The address of a cc_data channel (telegram_bot, viber, whatsapp, notify)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: Scalar = None
    phone: Scalar = None

    @model_validator(mode="before")
    @classmethod
    def _object(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise invalid("must be an object with id or phone")
        return value

    def as_address(self) -> dict[str, Any]:
        return {name: value for name, value in (("id", self.id), ("phone", self.phone)) if value is not None}


class SubscriptionData(BaseModel):
    """One subscription: its resource and channel, the channel's address fields, status, priority."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    resource_id: PositiveInt = Field(description="A resource linked to the profile's database")
    channel: ChannelName = Field(description="One of the resource's channels")
    email: FieldText | None = Field(None, description="Address of the email channel")
    phone: FieldText | None = Field(None, description="Address of the sms channel")
    provider: FieldText | None = Field(None, description="Push: the provider")
    subscription_id: FieldText | None = Field(None, description="Push: the device's subscription")
    cc_data: CcData | None = Field(None, description="telegram_bot, viber, whatsapp, notify: id or phone")
    status: StatusValue = Field(Status.SUBSCRIBED, description="A word or its number")
    priority: Priority = Field(0, description="0 is the highest priority")

    @model_validator(mode="before")
    @classmethod
    def _this_channels_address(cls, value: Any) -> Any:
        """Address fields of other channels are not part of this subscription: ignored."""
        if not isinstance(value, Mapping):
            raise invalid("must be an object")
        channel = value.get("channel")
        # An unknown channel is refused by its own field, whatever its address fields hold.
        own = ADDRESS_FIELDS.get(channel, ()) if isinstance(channel, str) else ()
        other_channels = [key for key in value if key in ADDRESS_KEYS and key not in own]
        return _without(value, other_channels + _blanks(value, ("status", "priority")))

    def to_input(self) -> SubscriptionInput:
        address: dict[str, Any] = {}
        for name in ADDRESS_FIELDS[self.channel]:
            value = getattr(self, name)
            if value is not None:
                address[name] = value.as_address() if isinstance(value, CcData) else value
        return SubscriptionInput(self.resource_id, self.channel, address, self.status, self.priority)


class ProfileData(BaseModel):
    """A profile's data: email, phones, ``_status``, custom fields and its subscriptions."""

    model_config = ConfigDict(extra="allow", frozen=True)

    email: Annotated[Text, max_length(MAX_PROFILE_EMAIL)] | None = None
    phones: Annotated[list[Annotated[Text, max_length(MAX_PHONE)]], XmlList] = Field(default_factory=list)
    global_status: StatusValue | None = Field(None, alias="_status", description="Global status")
    subscriptions: Annotated[list[SubscriptionData], XmlList] = Field(default_factory=list)
    #: Custom fields and system fields such as ``_fname``: scalars only.
    __pydantic_extra__: dict[str, Scalar] = Field(init=False)

    @model_validator(mode="before")
    @classmethod
    def _field_names(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            raise invalid("must be an object of profile fields")
        for name in value:
            if name not in RESERVED and not (isinstance(name, str) and FIELD_NAME.fullmatch(name)):
                raise invalid(f"field name must match {FIELD_NAME.pattern}", shown=name)
        return _without(value, _blanks(value, ("_status",)))

    def to_input(self) -> ProfileInput:
        given = self.model_fields_set
        return ProfileInput(
            email=self.email,
            phones=self.phones,
            global_status=self.global_status,
            fields=dict(self.__pydantic_extra__),
            subscriptions=[subscription.to_input() for subscription in self.subscriptions],
            given=frozenset(name for name in SYSTEM_FIELDS if _FIELD_OF.get(name, name) in given),
        )


_FIELD_OF = {"_status": "global_status"}


#: One profile's data where a request gives it: in XML, an empty element is an empty profile.
PROFILE_DATA = TypeAdapter(Annotated[ProfileData, XmlObject])


# Matching (api.md section 4): how profiles/import, update, import_batch, get and delete find
# the profile a request means.

Matching = Literal["email", "phone", "profile_id"]
MATCHINGS: tuple[Matching, ...] = ("email", "phone", "profile_id")


def _matching(value: object) -> Matching:
    for matching in MATCHINGS:
        if value == matching:
            return matching
    raise invalid(f"must be one of {', '.join(MATCHINGS)}")


#: The ``matching`` parameter of a request.
MatchingName = Annotated[Matching, PlainValidator(_matching), WithJsonSchema({"enum": list(MATCHINGS)})]


class ProfileNotFound(NotFound):
    """Profile not found."""


@dataclass(frozen=True)
class ImportInput:
    """One profile to add or update: the value of its matching key, and what to write."""

    key: str
    profile: ProfileInput


def profile_id_from(value: object) -> int:
    """Profile ids are opaque strings; one that is not ours is simply not found."""
    text = str(value).strip() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    if text.isascii() and text.isdigit() and 0 < len(text) <= 18:
        return int(text)
    raise ProfileNotFound(f"Profile not found: {short_repr(value)}")


def match_key(matching: Matching, value: object, name: str) -> str:
    """A matching key as given, checked: an email or phone is non-empty text, an id digits."""
    if matching == "profile_id":
        return str(profile_id_from(value))
    limit = MAX_PROFILE_EMAIL if matching == "email" else MAX_PHONE
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"Invalid parameter: {name} must be a non-empty string, got {short_repr(value)}")
    if len(value) > limit:
        raise BadRequest(f"Invalid parameter: {name} must be at most {limit} characters, got {short_repr(value)}")
    return value


def import_item(
    matching: Matching, data: object, key: object = None, *, xml: bool = False, name: str = "data"
) -> ImportInput:
    """The profile an import writes and its key: ``key`` if given (the top level of the
    body), else read from ``data``: ``email``; ``phone``, else the first of ``phones``;
    ``profile_id``. A ``phone`` or ``profile_id`` that serves as the key is not a custom field.
    """
    if not isinstance(data, Mapping):
        raise BadRequest(f"Invalid parameter: {name} must be an object of profile fields, got {short_repr(data)}")
    fields = dict(data)
    where: str = matching
    if matching != "email":
        in_data = fields.pop(matching, None)
        if key is None and in_data not in (None, ""):
            key, where = in_data, f"{name}.{matching}"
    if key is None:
        key, where = _key_in_data(matching, fields, name)
    if key is None:
        where_else = f"{name}.phones[0]" if matching == "phone" else ""
        if name == "data":  # one profile: the key may also stand beside matching
            raise BadRequest(
                f"Missing parameter: {matching} (matching by {matching} reads it beside matching, "
                f"else from data.{matching}{' or ' + where_else if where_else else ''})"
            )
        raise BadRequest(
            f"Missing parameter: {name}.{matching} (matching by {matching} reads each item's own"
            f"{' or its ' + where_else if where_else else ''})"
        )
    checked = match_key(matching, key, where)
    try:
        profile = PROFILE_DATA.validate_python(fields, context={"xml": xml})
    except ValidationError as exc:
        raise bad_request(exc, (name,)) from None
    return ImportInput(checked, profile.to_input())


def _key_in_data(matching: Matching, fields: Mapping[str, Any], name: str) -> tuple[object, str]:
    if matching == "email":
        return fields.get("email"), f"{name}.email"
    if matching == "phone":
        phones = fields.get("phones")
        if isinstance(phones, str):  # one XML element
            return phones, f"{name}.phones[0]"
        if isinstance(phones, Sequence) and phones:
            return phones[0], f"{name}.phones[0]"
    return None, name


def import_items(
    matching: Matching, items: Sequence[object], *, xml: bool = False, name: str = "data"
) -> list[ImportInput | TallyError]:
    """Each item validated alone, its errors named ``data[<index>]...``."""
    results: list[ImportInput | TallyError] = []
    for index, item in enumerate(items):
        try:
            results.append(import_item(matching, item, xml=xml, name=location_name((name, index))))
        except TallyError as error:
            results.append(error)
    return results
