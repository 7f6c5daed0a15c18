"""Parameter types shared by every method's Pydantic model, and validation-error texts.

Integers come as JSON numbers or as strings of decimal digits (XML always gives text).
A list field also takes a single item when the body was XML, since one element is
indistinguishable from a one-item list there unless it carries ``array="true"``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from tally.errors import BadRequest, short_repr
from tally.wire.xml import XML_FORBIDDEN

MAX_INT = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")
_SIGNED_DIGITS = re.compile(r"-?[0-9]{1,10}")


def _int_from(value: object, pattern: re.Pattern[str]) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and pattern.fullmatch(value.strip()):
        return int(value.strip())
    return None


def _positive(value: object) -> int:
    number = _int_from(value, _DIGITS)
    if number is None or not 0 < number <= MAX_INT:
        raise PydanticCustomError("positive_int", "must be a positive integer")
    return number


def _non_negative(value: object) -> int:
    number = _int_from(value, _DIGITS)
    if number is None or not 0 <= number <= MAX_INT:
        raise PydanticCustomError("non_negative_int", "must be a non-negative integer")
    return number


def _priority(value: object) -> int:
    number = _int_from(value, _SIGNED_DIGITS)
    if number is None or not 0 <= number <= 2**31 - 1:
        raise PydanticCustomError("priority", "must be an integer from 0 to 2147483647")
    return number


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("text", "must be a string")
    if XML_FORBIDDEN.search(value):
        # Stored text must round-trip through XML responses (api.md section 2).
        raise PydanticCustomError("text", "must not contain control characters")
    return value


def _list_from_xml(value: Any, info: ValidationInfo) -> Any:
    if info.context and info.context.get("xml") and not isinstance(value, list):
        return [] if value == "" else [value]
    return value


PositiveInt = Annotated[int, PlainValidator(_positive), WithJsonSchema({"type": "integer", "minimum": 1})]
NonNegativeInt = Annotated[int, PlainValidator(_non_negative), WithJsonSchema({"type": "integer", "minimum": 0})]
Priority = Annotated[int, PlainValidator(_priority), WithJsonSchema({"type": "integer", "minimum": 0})]
Text = Annotated[str, PlainValidator(_text), WithJsonSchema({"type": "string"})]
XmlList = BeforeValidator(_list_from_xml)


class Params(BaseModel):
    """Base of every method's parameters: unknown keys (``token``, ``format``) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


P = TypeVar("P", bound=Params)


def validate_params(model: type[P], payload: dict[str, Any], *, is_xml: bool) -> P:
    """Validate a decoded body, turning the first problem into a 400 that names the field."""
    try:
        return model.model_validate(payload, context={"xml": is_xml})
    except ValidationError as exc:
        raise _bad_request(exc) from None


def _bad_request(exc: ValidationError) -> BadRequest:
    error = exc.errors(include_url=False)[0]
    name = location_name(error["loc"])
    if error["type"] == "missing":
        return BadRequest(f"Missing parameter: {name}")
    message = error["msg"]
    if error["type"] in {"positive_int", "non_negative_int", "priority", "text", "value_error"}:
        message = message.removeprefix("Value error, ")
        return BadRequest(f"Invalid parameter: {name} {message}, got {short_repr(error['input'])}")
    return BadRequest(f"Invalid parameter: {name}: {message}, got {short_repr(error['input'])}")


def location_name(loc: tuple[int | str, ...]) -> str:
    """``('data', 'subscriptions', 0, 'status')`` → ``data.subscriptions[0].status``."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else part
    return name or "body"
