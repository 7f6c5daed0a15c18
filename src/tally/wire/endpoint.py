"""The one request path every method shares: decode, authenticate, validate, run, encode."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from tally.accounts.service import token_authenticate
from tally.errors import MethodNotAllowed, NotFound, TallyError, Unavailable
from tally.runtime import Runtime
from tally.wire.auth import token_from
from tally.wire.codec import (
    BodyKind,
    body_kind,
    decode_body,
    fallback_format,
    parse_format,
)
from tally.wire.methods import Call, Method
from tally.wire.openapi import openapi_extra
from tally.wire.params import validate_params
from tally.wire.respond import error_response, success_response

API_PREFIX = "/api/v1.1"
ALL_VERBS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

log = logging.getLogger("tally.api")


async def dispatch(request: Request, method: Method) -> Response:
    runtime: Runtime = request.app.state.runtime
    query_format = request.query_params.get("format")
    # Until the body is read, errors use the query format (if valid) or Accept.
    fmt = fallback_format(query_format, request.headers.get("accept"))
    try:
        if runtime.is_stopping:
            raise Unavailable()
        body = await request.body()
        kind = body_kind(request.headers.get("content-type"), body)
        payload = decode_body(kind, body)
        if "format" in payload:
            # The body's format wins over the query's, which is then not even looked at.
            fmt = parse_format(payload["format"], "body")
        elif query_format is not None:
            fmt = parse_format(query_format, "query")
        token = token_from(payload, request.headers, request.query_params)
        account_id = await token_authenticate(runtime.engine, token)
        params = validate_params(method.params, payload, is_xml=kind is BodyKind.XML)
        data = await method.handler(Call(account_id=account_id, runtime=runtime), params)
        return success_response(data, fmt)
    except TallyError as error:
        if error.code >= 500 and not isinstance(error, Unavailable):
            log.error("%s failed: %s", method.path, error.text)
        return error_response(error, fmt)
    except Exception:
        request_id = uuid.uuid4().hex[:12]
        log.exception("internal error in %s (request %s)", method.path, request_id)
        return error_response(TallyError(f"Internal error (request {request_id})"), fmt)


def build_router(methods: list[Method]) -> APIRouter:
    """One POST route per method (with and without a trailing slash), then the fallbacks."""
    router = APIRouter()
    by_path = {method.path: method for method in methods}
    for method in methods:
        endpoint = _endpoint_for(method)
        area = method.path.split("/", 1)[0]
        for path, visible in ((method.path, True), (method.path + "/", False)):
            router.add_api_route(
                f"{API_PREFIX}/{path}",
                endpoint,
                methods=["POST"],
                name=method.path if visible else None,
                summary=method.summary,
                description=method.description,
                tags=[area],
                include_in_schema=visible,
                openapi_extra=openapi_extra(method) if visible else None,
            )

    async def unknown(request: Request, path: str) -> Response:
        fmt = fallback_format(request.query_params.get("format"), request.headers.get("accept"))
        name = path.removesuffix("/")
        # A POST to a method's path never gets here; one to a look-alike path is unknown.
        if name in by_path and request.method != "POST":
            return error_response(MethodNotAllowed(), fmt)
        return error_response(NotFound(f"Unknown method: {name}"), fmt)

    router.add_api_route(API_PREFIX + "/{path:path}", unknown, methods=ALL_VERBS, include_in_schema=False)
    return router


def _endpoint_for(method: Method) -> Any:
    async def endpoint(request: Request) -> Response:
        return await dispatch(request, method)

    endpoint.__name__ = method.path.replace("/", "_")
    return endpoint
