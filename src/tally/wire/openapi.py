"""OpenAPI for /docs: every method shows its body and its answer in JSON and in XML.

The route handlers read the raw request (one decoder for both formats), so FastAPI cannot
infer the body; it is described here from the method's Pydantic model and examples, and
the XML examples are rendered by the same encoder the API uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tally.errors import BadRequest
from tally.wire.codec import success_envelope
from tally.wire.listing import Listing
from tally.wire.xml import render_xml

if TYPE_CHECKING:
    from tally.wire.methods import Method

REF_TEMPLATE = "#/components/schemas/{model}"
TOKEN_EXAMPLE = "abcdefghijklmnqrstuvwxyz"


def openapi_extra(method: Method) -> dict[str, Any]:
    request_example = {"token": TOKEN_EXAMPLE, **method.example}
    schema = method.params.model_json_schema(ref_template=REF_TEMPLATE)
    schema.pop("$defs", None)
    schema.setdefault("properties", {})
    schema["properties"] = {
        "token": {"type": "string", "description": "API token (or Authorization: Bearer)"},
        **schema["properties"],
        "format": {"type": "string", "enum": ["json", "xml"], "description": "response format"},
    }
    envelope = success_envelope(method.response_example)
    is_listing = isinstance(method.response_example, Listing)
    error = {"error": 400, "error_text": BadRequest("Missing parameter: id").text}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": schema, "example": request_example},
                "application/xml": {
                    "schema": {"type": "string"},
                    "example": render_xml(request_example).decode(),
                },
            },
        },
        "responses": {
            "200": {
                "description": _LISTING_ANSWER if is_listing else "The envelope: data, error 0, error_text",
                "content": {
                    "application/json": {"schema": _envelope_schema(is_listing), "example": envelope},
                    "application/xml": {"example": render_xml(envelope).decode()},
                },
            },
            "400": {
                "description": "An error envelope; the HTTP status equals `error`",
                "content": {"application/json": {"example": error}},
            },
        },
    }


_LISTING_ANSWER = (
    "The envelope of a list method: data is the page's items, then error 0, error_text, "
    "next_from_id (the from_id of the next page, 0 on the last page) and total_count "
    "(items in all pages). In XML, one <data> element per item; an empty page is one empty <data>."
)


def _envelope_schema(is_listing: bool) -> dict[str, Any]:
    """The success envelope's members in their order; a listing's ``data`` is an array."""
    properties: dict[str, Any] = {
        "data": {"type": "array", "items": {"type": "object"}} if is_listing else {},
        "error": {"type": "integer", "enum": [0]},
        "error_text": {"type": "string", "example": "Successful operation"},
    }
    if is_listing:
        properties["next_from_id"] = {"type": "integer", "minimum": 0, "description": "0 on the last page"}
        properties["total_count"] = {"type": "integer", "minimum": 0}
    return {"type": "object", "properties": properties, "required": list(properties)}


def schema_components(methods: list[Method]) -> dict[str, Any]:
    """The nested models the method schemas refer to, for ``components.schemas``."""
    components: dict[str, Any] = {}
    for method in methods:
        schema = method.params.model_json_schema(ref_template=REF_TEMPLATE)
        components.update(schema.get("$defs", {}))
    return components
