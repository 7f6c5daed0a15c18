"""The ``feedback`` parameter of refresh_counters: checked when the request is made."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BeforeValidator, Field, field_validator

from tally.wire.params import Params, Text

MAX_URL_LENGTH = 2048
TYPES = ("JSON", "XML")


class Feedback(Params):
    type: Text = Field(description="JSON or XML (any case): the format of the delivery")
    url: Text = Field(description="Absolute http(s) URL the finished task is POSTed to")

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        if value.strip().upper() not in TYPES:
            raise ValueError("must be 'JSON' or 'XML'")
        return value.strip().upper()

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        problem = f"must be an absolute http(s) URL of at most {MAX_URL_LENGTH} characters"
        try:
            parts = urlsplit(value)
            _ = parts.port  # a port that is not a number raises here
        except ValueError:
            raise ValueError(problem) from None
        if (
            len(value) > MAX_URL_LENGTH
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or any(character.isspace() for character in value)
        ):
            raise ValueError(problem)
        return value


def _object_or_none(value: Any) -> Any:
    """An absent feedback (null, or an empty XML element) is None; else it must be an object."""
    if value is None or value == "":
        return None
    if not isinstance(value, Mapping | Feedback):
        raise ValueError('must be an object {"type": "JSON" or "XML", "url": "http(s)://..."}')
    return value


OptionalFeedback = Annotated[Feedback | None, BeforeValidator(_object_or_none)]
