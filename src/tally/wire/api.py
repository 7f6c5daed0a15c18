"""The API on an app: its routes, and what wraps every request to them.

From the outside in: a request id (so that every reply has one, 413 included), the body
limit, then the routes. Slash redirects are off: Starlette builds their ``Location`` from
the ``Host`` header, and every reply under /api is an envelope. Tokens are kept out of
uvicorn's access log. Request hooks (wire/hooks.py) come from the capabilities; tests may
append more to ``app.state.request_hooks``.
"""

from __future__ import annotations

from fastapi import FastAPI

from tally.wire.auth import Authenticate
from tally.wire.endpoint import Gate, build_router
from tally.wire.hooks import RequestHook
from tally.wire.limits import BodyLimit
from tally.wire.logs import redact_access_log
from tally.wire.methods import Method
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
    app.include_router(build_router(methods, gate))
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, timeout=body_timeout)
    app.add_middleware(RequestIds)
    redact_access_log()
