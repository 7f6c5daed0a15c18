"""Field types of every method's Pydantic model, and the texts of their errors.

The same types serve any reader of user input (the API, an importer, a form), so that a
value means the same wherever it comes from:

* integers are JSON numbers with an integral value (``5``, ``5.0``) or strings of ASCII
  digits (XML always gives text, at most 19 digits: the 64-bit range); booleans, fractions
  and other strings are refused;
* text is a string XML 1.0 can carry, since stored text must round-trip through XML
  responses (api.md section 2), optionally with a length limit (``max_length``);
* a flag is JSON ``true`` or ``false``, or the word as text (XML);
* a list field also takes a single item when the body was XML (``XmlList``), since one
  element is indistinguishable from a one-item list there unless it carries
  ``array="true"``; likewise an empty element is an empty object (``XmlObject``).

Errors raised with ``invalid`` become ``Invalid parameter: <field> <message>, got <value>``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from tally.errors import BadRequest, short_repr
from tally.wire.xml import XML_FORBIDDEN

MAX_INT = 2**63 - 1
MAX_PRIORITY = 2**31 - 1
#: Longest text of a free-form value (a profile field, an address), in characters.
MAX_TEXT = 10_000
_DIGITS = re.compile(r"[0-9]{1,19}")
_SIGNED_DIGITS = re.compile(r"-?[0-9]{1,10}")
#: The error type of every check written here (and in capabilities, through ``invalid``).
_INVALID = "invalid"


def invalid(message: str, *, shown: object = ...) -> PydanticCustomError:
    """A validation error whose text is the field's name, ``message`` and the value.

    ``shown`` replaces the value when another one says more (a field's name, a count).
    """
    return PydanticCustomError(_INVALID, message, None if shown is ... else {"shown": shown})


def integer_from(value: object, pattern: re.Pattern[str] = _DIGITS) -> int | None:
    """The integer a parameter spells, or None (range checks are the caller's)."""
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
    number = integer_from(value)
    if number is None or not 0 < number <= MAX_INT:
        raise invalid("must be a positive integer")
    return number


def _non_negative(value: object) -> int:
    number = integer_from(value)
    if number is None or not 0 <= number <= MAX_INT:
        raise invalid("must be a non-negative integer")
    return number


def _priority(value: object) -> int:
    number = integer_from(value, _SIGNED_DIGITS)
    if number is None or not 0 <= number <= MAX_PRIORITY:
        raise invalid(f"must be an integer from 0 to {MAX_PRIORITY}")
    return number


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise invalid("must be a string")
    if XML_FORBIDDEN.search(value):
        raise invalid("must not contain control characters or lone surrogates")
    return value


def _flag(value: object) -> bool:
    """A boolean: JSON ``true``/``false``, or the same words as text (all XML gives)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip() in ("true", "false"):
        return value.strip() == "true"
    raise invalid("must be true or false")


_DAY = timedelta(days=1)
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2})(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")


def _moment(value: object) -> datetime:
    """An RFC 3339 time with its offset (``2026-12-03T10:00:00Z``), as an aware datetime."""
    if isinstance(value, str) and (match := _RFC3339.fullmatch(value.strip())):
        date_time, fraction, offset = match.group(1).upper(), match.group(2) or ".", match.group(3)
        microseconds = (fraction[1:] + "000000")[:6]  # nanoseconds are cut, not rounded
        try:
            moment = datetime.fromisoformat(f"{date_time}.{microseconds}{'+00:00' if offset in 'Zz' else offset}")
            # In UTC, and a day away from the ends of the calendar, so that comparing it or
            # moving it a little (a millisecond, a time zone) cannot overflow.
            utc = moment.astimezone(UTC)
            _ = (utc - _DAY, utc + _DAY)
            return utc
        except ValueError:
            pass  # a month 13, a 25th hour
        except OverflowError:
            raise invalid("must be a time between the years 1 and 9999") from None
    raise invalid("must be an RFC 3339 time with its offset, such as 2026-12-03T10:00:00Z")


def _order(value: object) -> str:
    if isinstance(value, str) and value.strip() in ("asc", "desc"):
        return value.strip()
    raise invalid("must be asc or desc")


def _limited(value: str, limit: int) -> str:
    if len(value) > limit:
        raise invalid(f"must be at most {limit} characters")
    return value


def _within_page(value: int, maximum: int) -> int:
    if not 1 <= value <= maximum:
        raise invalid(f"must be from 1 to {maximum}")
    return value


class Checked:
    """A check run after the field's validator that also states its bound in the JSON
    Schema, so that /docs and the schema-driven fuzzing know it (``{"maximum": 1000}``)."""

    def __init__(self, check: Callable[[Any], Any], **keywords: Any) -> None:
        self.check = check
        self.keywords = keywords

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), **self.keywords}


def page_limit(maximum: int) -> Checked:
    """Items per page, 1 to ``maximum``: ``Annotated[NonNegativeInt, page_limit(1000)]``."""
    return Checked(lambda value: _within_page(value, maximum), minimum=1, maximum=maximum)


def max_length(limit: int) -> Checked:
    """A length limit for ``Text``: ``Annotated[Text, max_length(320)]``."""
    return Checked(lambda value: _limited(value, limit), maxLength=limit)


def _scalar(value: object) -> str | int | float | bool | None:
    if isinstance(value, float) and not math.isfinite(value):
        # Python's JSON decoder takes NaN and Infinity; JSON columns and responses cannot.
        raise invalid("must be a finite number")
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return _limited(_text(value), MAX_TEXT)
    raise invalid("must be a string, a number, a boolean or null")


def _is_xml(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("xml"))


def _list_from_xml(value: Any, info: ValidationInfo) -> Any:
    if _is_xml(info) and not isinstance(value, list):
        return [] if value == "" else [value]
    return value


def _object_from_xml(value: Any, info: ValidationInfo) -> Any:
    return {} if _is_xml(info) and value == "" else value


PositiveInt = Annotated[
    int, PlainValidator(_positive), WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_INT})
]
NonNegativeInt = Annotated[
    int, PlainValidator(_non_negative), WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_INT})
]
Priority = Annotated[
    int, PlainValidator(_priority), WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_PRIORITY})
]
Text = Annotated[str, PlainValidator(_text), WithJsonSchema({"type": "string"})]
Flag = Annotated[bool, PlainValidator(_flag), WithJsonSchema({"type": "boolean"})]
Moment = Annotated[datetime, PlainValidator(_moment), WithJsonSchema({"type": "string", "format": "date-time"})]
Order = Annotated[str, PlainValidator(_order), WithJsonSchema({"type": "string", "enum": ["asc", "desc"]})]
#: A JSON scalar; a string is Text of at most MAX_TEXT characters.
Scalar = Annotated[
    str | int | float | bool | None,
    PlainValidator(_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]
XmlList = BeforeValidator(_list_from_xml)
XmlObject = BeforeValidator(_object_from_xml)


class Params(BaseModel):
    """Base of every method's parameters: unknown keys (``token``, ``format``) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


P = TypeVar("P", bound=Params)
T = TypeVar("T")


def validate_params(model: type[P], payload: dict[str, Any], *, is_xml: bool) -> P:
    """Validate a decoded body, turning the first problem into a 400 that names the field."""
    try:
        return model.model_validate(payload, context={"xml": is_xml})
    except ValidationError as exc:
        raise bad_request(exc) from None


def validate_each(
    adapter: TypeAdapter[T], values: Iterable[Any], info: ValidationInfo, name: str
) -> list[T | BadRequest]:
    """Validate the items of a batch one by one: a bad item is its own 400 (named
    ``<name>[<index>]...``), not the request's."""
    results: list[T | BadRequest] = []
    for index, value in enumerate(values):
        try:
            results.append(adapter.validate_python(value, context=info.context))
        except ValidationError as exc:
            results.append(bad_request(exc, (name, index)))
    return results


def bad_request(exc: ValidationError, prefix: tuple[int | str, ...] = ()) -> BadRequest:
    """The first problem of ``exc`` as a 400; ``prefix`` is where the validated value sat."""
    error = exc.errors(include_url=False)[0]
    name = location_name(prefix + tuple(error["loc"]))
    if error["type"] == "missing":
        return BadRequest(f"Missing parameter: {name}")
    context = error.get("ctx") or {}
    shown = short_repr(context.get("shown", error["input"]))
    if error["type"] in {_INVALID, "value_error"}:
        message = error["msg"].removeprefix("Value error, ")
        return BadRequest(f"Invalid parameter: {name} {message}, got {shown}")
    return BadRequest(f"Invalid parameter: {name}: {error['msg']}, got {shown}")


def location_name(loc: tuple[int | str, ...]) -> str:
    """``('data', 'subscriptions', 0, 'status')`` → ``data.subscriptions[0].status``."""
    name = ""
    for part in loc:
        if isinstance(part, int):
            name += f"[{part}]"
        else:
            name += f".{part}" if name else part
    return name or "body"
