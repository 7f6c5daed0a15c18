"""The XML mapping of api.md section 2, both ways.

Requests: the root's name is ignored; repeated sibling elements, or one carrying
``array="true"``, are a list; an element with children is an object; any other element is
its stripped text. Parsing goes through defusedxml, which refuses DTDs, entity declarations
and external references before anything is expanded, and stops as soon as the nesting or
the number of elements passes its bound (wire/bounds.py), before the tree is built. The
body must be UTF-8.

Responses: root ``<xml>``, one element per key in order, a list as the element repeated
(an empty list as one empty element), booleans ``true``/``false``, null as an empty element.
Characters XML 1.0 cannot carry are replaced by U+FFFD so that the document stays well-formed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element, ParseError, TreeBuilder
from xml.sax.saxutils import escape

import defusedxml
from defusedxml.ElementTree import DefusedXMLParser

from tally.errors import BadRequest, short_repr
from tally.wire.bounds import MAX_DEPTH, MAX_ITEMS, check_depth, too_deep, too_many

PROLOG = '<?xml version="1.0" encoding="UTF-8"?>'
_DECLARED_ENCODING = re.compile(rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml\s[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = {"\r": "&#13;"}


class _OverBound(Exception):
    def __init__(self, error: BadRequest) -> None:
        self.error = error


class _ElementCounter:
    """A parser target that builds nothing and gives up as soon as the nesting or the
    element count passes its bound."""

    def __init__(self) -> None:
        self._depth = -1  # the root is at depth 0
        self._elements = 0

    def start(self, tag: str, attrs: dict[str, str]) -> Any:
        self._depth += 1
        self._elements += 1
        if self._depth > MAX_DEPTH:
            raise _OverBound(too_deep("XML"))
        if self._elements > MAX_ITEMS:
            raise _OverBound(too_many("XML", "elements"))
        return None

    def end(self, tag: str) -> Any:
        self._depth -= 1
        return None

    def data(self, text: str) -> None:
        pass

    def close(self) -> Any:
        return None


class _BoundedBuilder(_ElementCounter):
    """A TreeBuilder within the same bounds."""

    def __init__(self) -> None:
        super().__init__()
        self._builder = TreeBuilder()

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        super().start(tag, attrs)
        return self._builder.start(tag, attrs)

    def end(self, tag: str) -> Element:
        super().end(tag)
        return self._builder.end(tag)

    def data(self, text: str) -> None:
        self._builder.data(text)

    def close(self) -> Element:
        return self._builder.close()


def parse_xml(raw: bytes) -> dict[str, Any]:
    """Turn an XML request body into the dict a JSON body would give."""
    _require_utf8(raw)
    if raw.count(b"<") > MAX_ITEMS:
        # It may hold more elements than allowed: count them first, building none, so that
        # millions of elements are refused without the 60 MiB tree of the first 500,000.
        _parse(raw, _ElementCounter())
    root: Element = _parse(raw, _BoundedBuilder())
    value = _element_value(root)
    if isinstance(value, str) and not value:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("Malformed XML: the root element must contain parameter elements")
    # Lists are a level of their own, as in JSON: the element nesting alone does not show them.
    check_depth(value, "XML")
    return value


def _parse(raw: bytes, target: Any) -> Any:
    """``raw`` through defusedxml into ``target``; what ``target.close()`` returns."""
    parser = DefusedXMLParser(target=target, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    try:
        parser.feed(raw)
        return parser.close()
    except defusedxml.DTDForbidden:
        raise BadRequest("Malformed XML: a DOCTYPE is not allowed") from None
    except defusedxml.EntitiesForbidden:
        raise BadRequest("Malformed XML: entity declarations are not allowed") from None
    except defusedxml.ExternalReferenceForbidden:
        raise BadRequest("Malformed XML: external references are not allowed") from None
    except _OverBound as over:
        raise over.error from None
    except ParseError as exc:
        raise BadRequest(f"Malformed XML: {exc}") from None


def _require_utf8(raw: bytes) -> None:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"Malformed XML: the body is not UTF-8 (invalid byte at offset {exc.start})") from None
    declared = _DECLARED_ENCODING.match(raw)
    if declared and declared.group(1).decode("ascii", "replace").strip().lower() not in {"utf-8", "utf8"}:
        shown = declared.group(1).decode("ascii", "replace")
        raise BadRequest(f"Malformed XML: the body must be UTF-8, not {short_repr(shown)}")


def _is_array(element: Element) -> bool:
    return element.get("array", "").strip().lower() == "true"


def _element_value(element: Element) -> Any:
    """The element as JSON would carry it; depth is bounded by the parser."""
    children = list(element)
    if not children:
        return (element.text or "").strip()
    groups: dict[str, list[Element]] = {}
    for child in children:
        groups.setdefault(child.tag, []).append(child)
    result: dict[str, Any] = {}
    for tag, elements in groups.items():
        if len(elements) > 1:
            # Repeated siblings: one item each (an empty element is an empty string here).
            result[tag] = [_element_value(item) for item in elements]
        elif _is_array(elements[0]):
            value = _element_value(elements[0])
            result[tag] = [] if value == "" else [value]
        else:
            result[tag] = _element_value(elements[0])
    return result


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
        lines.append(f"<{name}>{_escape(_text(value))}</{name}>")


def _escape(text: str) -> str:
    return escape(XML_FORBIDDEN.sub("\ufffd", text), _ESCAPES)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
