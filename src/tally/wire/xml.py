"""The XML mapping of api.md section 2, both ways.

Requests: the root's name is ignored; repeated sibling elements, or one carrying
``array="true"``, are a list; an element with children is an object; any other element is
its stripped text. Parsing goes through defusedxml, which refuses DTDs, entity declarations
and external references before anything is expanded.

Responses: root ``<xml>``, one element per key in order, a list as the element repeated
(an empty list as one empty element), booleans ``true``/``false``, null as an empty element.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

import defusedxml
from defusedxml.ElementTree import fromstring

from tally.errors import BadRequest

MAX_DEPTH = 32
PROLOG = '<?xml version="1.0" encoding="UTF-8"?>'


def parse_xml(raw: bytes) -> dict[str, Any]:
    """Turn an XML request body into the dict a JSON body would give."""
    try:
        root = fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden:
        raise BadRequest("Malformed XML: a DOCTYPE is not allowed") from None
    except defusedxml.EntitiesForbidden:
        raise BadRequest("Malformed XML: entity declarations are not allowed") from None
    except defusedxml.ExternalReferenceForbidden:
        raise BadRequest("Malformed XML: external references are not allowed") from None
    except ParseError as exc:
        raise BadRequest(f"Malformed XML: {exc}") from None
    value = _element_value(root, depth=0)
    if isinstance(value, str) and not value:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("Malformed XML: the root element must contain parameter elements")
    return value


def _is_array(element: Element) -> bool:
    return element.get("array", "").strip().lower() == "true"


def _element_value(element: Element, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise BadRequest(f"Malformed XML: nested deeper than {MAX_DEPTH} levels")
    children = list(element)
    if not children:
        text = (element.text or "").strip()
        if _is_array(element) and not text:
            return []
        return text
    result: dict[str, Any] = {}
    for child in children:
        value = _element_value(child, depth + 1)
        if child.tag in result:
            existing = result[child.tag]
            if isinstance(existing, _Repeated):
                existing.append(value)
            else:
                result[child.tag] = _Repeated([existing, value])
        elif _is_array(child):
            result[child.tag] = value if isinstance(value, list) else _Repeated([value])
        else:
            result[child.tag] = value
    return {key: list(value) if isinstance(value, _Repeated) else value for key, value in result.items()}


class _Repeated(list[Any]):
    """A list built from repeated elements (as opposed to a value that is itself a list)."""


def render_xml(document: Mapping[str, Any]) -> bytes:
    """Render a response document under the root ``<xml>``, one element per line."""
    lines = [PROLOG]
    _write("xml", document, lines)
    return "\n".join(lines).encode()


def _write(name: str, value: Any, lines: list[str]) -> None:
    if isinstance(value, list):
        if not value:
            lines.append(f"<{name}></{name}>")
        for item in value:
            _write(name, item, lines)
    elif isinstance(value, Mapping):
        lines.append(f"<{name}>")
        for key, item in value.items():
            _write(key, item, lines)
        lines.append(f"</{name}>")
    else:
        lines.append(f"<{name}>{escape(_text(value))}</{name}>")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
