"""One decoding step (body bytes to dict) and one encoding step (envelope to bytes)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from tally.errors import BadRequest, TallyError, UnsupportedMediaType
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
    shown = media_type or "none"
    raise UnsupportedMediaType(f"Unsupported content type: {shown}. Send application/json, application/xml or text/xml")


def decode_body(kind: BodyKind, body: bytes) -> dict[str, Any]:
    """Turn a request body into a dict of parameters."""
    if kind is BodyKind.EMPTY:
        return {}
    if kind is BodyKind.XML:
        return parse_xml(body)
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except UnicodeDecodeError:
        raise BadRequest("Malformed JSON: the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BadRequest(f"Malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise BadRequest("Malformed JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise BadRequest("Malformed JSON: the body must be an object of parameters")
    return value


def parse_format(value: object, source: str) -> Format:
    """``json`` or ``xml``, in any case; anything else is a 400 naming where it came from."""
    if isinstance(value, str):
        try:
            return Format(value.strip().lower())
        except ValueError:
            pass
    raise BadRequest(f"Invalid parameter: format must be 'json' or 'xml', got {value!r} ({source})")


def format_from_headers(query_format: str | None, accept: str | None) -> Format:
    """The format chosen before the body is read: query ``format``, else ``Accept``."""
    if query_format is not None:
        return parse_format(query_format, "query")
    accepted = [part.split(";", 1)[0].strip().lower() for part in (accept or "").split(",")]
    return Format.XML if "application/xml" in accepted or "text/xml" in accepted else Format.JSON


def success_envelope(data: Any) -> dict[str, Any]:
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
