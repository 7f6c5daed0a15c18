"""The one request path every method shares: decode, authenticate, validate, run, encode."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from tally.errors import Forbidden, MethodNotAllowed, NotFound, TallyError, Unavailable, short_text
from tally.runtime import Runtime
from tally.store.engine import is_database_unreachable
from tally.wire import metrics
from tally.wire.auth import Authenticate, may_carry_token, token_from
from tally.wire.codec import (
    BodyKind,
    Format,
    body_kind,
    decode_body,
    fallback_format,
    parse_format,
)
from tally.wire.hooks import RequestHook
from tally.wire.methods import Call, Method
from tally.wire.openapi import openapi_extra
from tally.wire.params import validate_params
from tally.wire.request_id import request_id_of
from tally.wire.respond import error_response, success_response

API_ROOT = "/api"
API_PREFIX = "/api/v1.1"
#: Bodies above this are parsed in a thread: a large one takes long enough to stall the loop.
PARSE_IN_THREAD_BYTES = 64 * 1024

log = logging.getLogger("tally.api")
DATABASE_UNREACHABLE = Unavailable(
    "Temporarily unavailable: the database cannot be reached; retry", headers={"Retry-After": "1"}
)


@dataclass(frozen=True)
class Gate:
    """What a call passes before its method runs: the token check, then the request hooks."""

    authenticate: Authenticate
    hooks: list[RequestHook]


async def dispatch(request: Request, method: Method, gate: Gate) -> Response:
    started = time.perf_counter()
    response = await _dispatch(request, method, gate)
    metrics.observe(method.path, response.status_code, time.perf_counter() - started)
    return response


async def _dispatch(request: Request, method: Method, gate: Gate) -> Response:
    runtime: Runtime = request.app.state.runtime
    request_id = request_id_of(request.scope)
    query_format = request.query_params.get("format")
    # Until the body is read, errors use the query format (if valid) or Accept.
    fmt = fallback_format(query_format, request.headers.get("accept"))
    try:
        if runtime.is_stopping:
            raise Unavailable()
        body = await request.body()
        kind = body_kind(request.headers.get("content-type"), body)
        principal = None
        if not may_carry_token(kind, body):
            # The header or the query decides (api.md's order is kept): check it before the parse.
            principal = await gate.authenticate(runtime.engine, token_from({}, request.headers, request.query_params))
        payload = await _decode(kind, body)
        fmt = _response_format(payload, query_format, fmt)
        if principal is None:
            token = token_from(payload, request.headers, request.query_params)
            principal = await gate.authenticate(runtime.engine, token)
        if principal.read_only and method.writes:
            raise Forbidden(f"Forbidden: {method.path} writes, and this token is read-only")
        call = Call(account_id=principal.account_id, runtime=runtime, token_id=principal.token_id)
        for hook in gate.hooks:
            await hook(call, method)
        params = validate_params(method.params, payload, is_xml=kind is BodyKind.XML)
        data = await method.handler(call, params)
        return success_response(data, fmt)
    except TallyError as error:
        if error.code >= 500 and not isinstance(error, Unavailable):
            log.error("%s failed (request %s): %s", method.path, request_id, error.text)
        return error_response(error, fmt)
    except Exception as exc:
        if is_database_unreachable(exc):
            # A restart or a failover: nothing the request did is committed, a retry may pass.
            log.warning("%s: the database is unreachable (request %s): %s", method.path, request_id, type(exc).__name__)
            return error_response(DATABASE_UNREACHABLE, fmt)
        log.exception("internal error in %s (request %s)", method.path, request_id)
        return error_response(TallyError(f"Internal error (request {request_id})"), fmt)


async def _decode(kind: BodyKind, body: bytes) -> dict[str, Any]:
    if len(body) > PARSE_IN_THREAD_BYTES:
        return await asyncio.to_thread(decode_body, kind, body)
    return decode_body(kind, body)


def _response_format(payload: dict[str, Any], query_format: str | None, fallback: Format) -> Format:
    if "format" in payload:
        # The body's format wins over the query's, which is then not even looked at.
        return parse_format(payload["format"], "body")
    if query_format is not None:
        return parse_format(query_format, "query")
    return fallback


def build_routes(methods: list[Method], gate: Gate) -> list[BaseRoute]:
    """/api and every path under it, for every verb, to one handler that finds the method.

    A dictionary lookup instead of a route per method: Starlette tries routes in order, and
    matching a path against some sixty of them cost a tasks/status a tenth of its time. A
    POST to a method's path runs it (repeated slashes and a trailing one count as one), any
    other verb there is 405, every other path is 404 ``Unknown method``: each reply under
    /api is an envelope.
    """
    by_path = {method.path: method for method in methods}

    async def handle(request: Request) -> Response:
        name = _method_name(request.url.path)
        method = by_path.get(name)
        if method is not None and request.method == "POST":
            return await dispatch(request, method, gate)
        started = time.perf_counter()
        fmt = fallback_format(request.query_params.get("format"), request.headers.get("accept"))
        if method is not None:
            response = error_response(MethodNotAllowed(), fmt)
        else:
            response = error_response(NotFound(f"Unknown method: {short_text(name or request.url.path)}"), fmt)
        metrics.observe(method.path if method else metrics.UNKNOWN, response.status_code, time.perf_counter() - started)
        return response

    return [Route(path, _EveryVerb(handle), include_in_schema=False) for path in (API_ROOT, API_ROOT + "/{path:path}")]


def described_routes(methods: list[Method], gate: Gate) -> APIRouter:
    """A FastAPI route per method, from which /openapi.json describes it; requests reach the
    methods through ``build_routes``, but each of these would serve its own as well."""
    router = APIRouter()
    for method in methods:
        router.add_api_route(
            f"{API_PREFIX}/{method.path}",
            _endpoint_for(method, gate),
            methods=["POST"],
            name=method.path,
            summary=method.summary,
            description=method.description,
            tags=[method.path.split("/", 1)[0]],
            openapi_extra=openapi_extra(method),
        )
    return router


class _EveryVerb:
    """A handler as an ASGI app: Starlette routes a function to GET only, an app to every verb."""

    def __init__(self, handle: Callable[[Request], Awaitable[Response]]) -> None:
        self.handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)


def _method_name(path: str) -> str:
    """The ``area/method`` a path under /api/v1.1/ names (repeated slashes count as one), or ""."""
    if not path.startswith(API_PREFIX + "/"):
        return ""
    return re.sub("/+", "/", path.removeprefix(API_PREFIX + "/")).strip("/")


def _endpoint_for(method: Method, gate: Gate) -> Any:
    async def endpoint(request: Request) -> Response:
        return await dispatch(request, method, gate)

    endpoint.__name__ = method.path.replace("/", "_")
    return endpoint
