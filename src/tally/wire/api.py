"""The API on an app: its routes, and what wraps every request to them.

From the outside in: a request id (so that every reply has one, 413 included), the body
limit, then the routes, one for all of /api; /openapi.json describes each method from a
route of its own. Slash redirects are off: Starlette builds their ``Location`` from
the ``Host`` header, and every reply under /api is an envelope. Tokens are kept out of
uvicorn's access log. Request hooks (wire/hooks.py) come from the capabilities; tests may
append more to ``app.state.request_hooks``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from tally.wire.auth import Authenticate
from tally.wire.endpoint import Gate, build_routes, described_routes
from tally.wire.hooks import RequestHook
from tally.wire.limits import BodyLimit
from tally.wire.logs import redact_access_log
from tally.wire.methods import Method
from tally.wire.openapi import schema_components
from tally.wire.request_id import RequestIds


def mount_api(
    app: FastAPI,
    methods: list[Method],
    authenticate: Authenticate,
    *,
    max_body_bytes: int,
    body_timeout: float,
    hooks: list[RequestHook],
) -> None:
    gate = Gate(authenticate=authenticate, hooks=hooks)
    app.state.request_hooks = gate.hooks
    app.router.redirect_slashes = False
    app.router.routes[:0] = build_routes(methods, gate)  # first: most requests are API calls
    described = described_routes(methods, gate).routes
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, timeout=body_timeout)
    app.add_middleware(RequestIds)
    redact_access_log()

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            routes = [*app.routes, *described]
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(schema_components(methods))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
