"""OpenAPI for /docs: every method shows its body and its answer in JSON and in XML.

The route handlers read the raw request (one decoder for both formats), so FastAPI cannot
infer the body; it is described here from the method's Pydantic model and examples, and
the XML examples are rendered by the same encoder the API uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    return {
        "requestBody": {
            # A method whose parameters are all optional takes an empty body (the token in the header).
            "required": bool(schema.get("required")),
            "content": {
                "application/json": {"schema": schema, "example": request_example},
                # The same parameters as elements of one root (its name is ignored; <xml> by habit).
                "application/xml": {
                    "schema": {**schema, "xml": {"name": "xml"}},
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
            **_error_responses(method),
        },
    }


#: Every error a method can answer, with when; the HTTP status equals the envelope's ``error``.
_ERRORS: dict[int, str] = {
    400: "Malformed body, or a parameter missing or invalid (the text names it)",
    401: "Token missing, unknown or revoked",
    403: "The token is read-only and this method writes",
    404: "A database, resource, profile, task or schedule that is not the account's (or none)",
    408: "The body did not arrive within TALLY_BODY_TIMEOUT",
    409: "The object's state forbids the change now (the text says what to wait for)",
    413: "The body is over TALLY_MAX_BODY_BYTES",
    415: "A content type other than JSON or XML, or a Content-Encoding other than identity",
    429: "The token is over its rate limit (TALLY_RATE_LIMIT): retry after Retry-After seconds",
    500: "Internal error; the text has the request id to find it in the log",
    503: "The server is shutting down, or the database cannot be reached: retry",
}
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "integer"}, "error_text": {"type": "string"}},
    "required": ["error", "error_text"],
}


def _error_responses(method: Method) -> dict[str, Any]:
    """The error envelopes, in JSON and in XML (as ``format=xml`` or an XML body asks)."""
    responses: dict[str, Any] = {}
    for status, when in _ERRORS.items():
        if status in (403, 409) and not method.writes:
            continue
        example = {"error": status, "error_text": when}
        responses[str(status)] = {
            "description": f"{when}. An error envelope: `error` is the HTTP status",
            "content": {
                "application/json": {"schema": _ERROR_SCHEMA, "example": example},
                "application/xml": {"schema": {"type": "string"}, "example": render_xml(example).decode()},
            },
        }
    return responses


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
