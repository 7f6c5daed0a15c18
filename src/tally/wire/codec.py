"""One decoding step (body bytes to dict) and one encoding step (envelope to bytes)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from tally.errors import BadRequest, TallyError, UnsupportedMediaType, short_repr, short_text
from tally.wire.bounds import check_depth, json_values_over, too_deep, too_many
from tally.wire.listing import Listing
from tally.wire.xml import parse_xml, render_xml

SUCCESS_TEXT = "Successful operation"
JSON_TYPES = frozenset({"application/json"})
XML_TYPES = frozenset({"application/xml", "text/xml"})


class Format(StrEnum):
    """The format of a response."""

    JSON = "json"
    XML = "xml"

    @property
    def media_type(self) -> str:
        return "application/json" if self is Format.JSON else "application/xml; charset=utf-8"


class BodyKind(StrEnum):
    EMPTY = "empty"
    JSON = "json"
    XML = "xml"


def body_kind(content_type: str | None, body: bytes) -> BodyKind:
    """Which decoder a body needs, from its ``Content-Type`` (api.md section 1)."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in JSON_TYPES:
        return BodyKind.JSON
    if media_type in XML_TYPES:
        return BodyKind.XML
    if not media_type and not body.strip():
        return BodyKind.EMPTY
    shown = short_text(media_type) if media_type else "none"
    raise UnsupportedMediaType(f"Unsupported content type: {shown}. Send application/json, application/xml or text/xml")


def decode_body(kind: BodyKind, body: bytes) -> dict[str, Any]:
    """Turn a request body into a dict of parameters (an empty body is an empty object)."""
    if kind is BodyKind.EMPTY or not body.strip():
        return {}
    if kind is BodyKind.XML:
        return parse_xml(body)
    return _decode_json(body)


def _decode_json(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"Malformed JSON: the body is not UTF-8 (invalid byte at offset {exc.start})") from None
    if json_values_over(body):
        raise too_many("JSON", "values")
    try:
        value = json.loads(text.removeprefix("\ufeff"), parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise too_deep("JSON") from None
    except ValueError as exc:
        # NaN and Infinity (refused by _refuse_constant), numbers too long to convert.
        if str(exc).startswith("Exceeds the limit"):
            limit = sys.get_int_max_str_digits()
            raise BadRequest(f"Malformed JSON: a number has more than {limit} digits") from None
        raise BadRequest(f"Malformed JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest("Malformed JSON: the body must be an object of parameters")
    check_depth(value, "JSON")
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_format(value: object, source: str) -> Format:
    """``json`` or ``xml``, in any case; anything else is a 400 naming where it came from."""
    if isinstance(value, str):
        try:
            return Format(value.strip().lower())
        except ValueError:
            pass
    raise BadRequest(f"Invalid parameter: format must be 'json' or 'xml', got {short_repr(value)} ({source})")


def fallback_format(query_format: str | None, accept: str | None) -> Format:
    """The format for errors raised before the body is read: query ``format``, else ``Accept``.

    An invalid query ``format`` is ignored here; it is a 400 only once the body, which
    may carry its own ``format``, has been read.
    """
    if query_format is not None:
        try:
            return parse_format(query_format, "query")
        except BadRequest:
            pass
    return accept_format(accept)


def accept_format(accept: str | None) -> Format:
    """XML when ``Accept`` prefers application/xml or text/xml to application/json."""
    best: dict[Format, tuple[float, int]] = {}
    for position, part in enumerate((accept or "").split(",")):
        media_type, *params = (piece.strip() for piece in part.split(";"))
        media_type = media_type.lower()
        fmt = Format.XML if media_type in XML_TYPES else Format.JSON if media_type in JSON_TYPES else None
        if fmt is None:
            continue
        quality = _quality(params)
        if quality > best.get(fmt, (0.0, 0))[0]:
            best[fmt] = (quality, -position)
    xml, json_ = best.get(Format.XML, (0.0, 0)), best.get(Format.JSON, (0.0, 0))
    return Format.XML if xml[0] > 0 and xml > json_ else Format.JSON


def _quality(params: list[str]) -> float:
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                return 1.0
            return quality if 0.0 <= quality <= 1.0 else 1.0
    return 1.0


def success_envelope(data: Any) -> dict[str, Any]:
    """``data``, error 0 and its text; a ``Listing``'s items are ``data``, its paging follows."""
    if isinstance(data, Listing):
        return {"data": data.items, "error": 0, "error_text": SUCCESS_TEXT, **data.paging()}
    return {"data": data, "error": 0, "error_text": SUCCESS_TEXT}


def error_envelope(error: TallyError) -> dict[str, Any]:
    return {"error": error.code, "error_text": error.text}


def encode(envelope: Mapping[str, Any], fmt: Format) -> bytes:
    """The envelope as bytes; on errors XML carries an empty ``<data>`` element."""
    if fmt is Format.XML:
        if "data" not in envelope:
            envelope = {"data": "", **envelope}
        return render_xml(envelope)
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
