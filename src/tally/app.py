"""The ASGI application: every capability's methods, mounted in one readable list."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.responses import JSONResponse

from tally import __version__
from tally.accounts.known_tokens import KnownTokens
from tally.accounts.service import token_authenticate
from tally.capability import Capability, methods_of, pages_of, registry_of, request_hooks_of
from tally.catalog import routes as catalog
from tally.config import Settings
from tally.counters import routes as counters
from tally.dashboard import routes as dashboard
from tally.feedback import routes as feedback
from tally.metrics import routes as metrics
from tally.profiles import routes as profiles
from tally.queue.worker import Worker
from tally.rate_limits import routes as rate_limits
from tally.runtime import Runtime
from tally.schedules import routes as schedules
from tally.store.engine import create_engine, is_sqlite, read_transaction
from tally.store.migrate import is_current
from tally.tasks import routes as tasks
from tally.wire.api import mount_api

log = logging.getLogger("tally")

#: Every capability, once: its API methods, task kinds and hooks come with it.
CAPABILITIES: list[Capability] = [
    catalog.CAPABILITY,
    profiles.CAPABILITY,
    counters.CAPABILITY,
    schedules.CAPABILITY,
    tasks.CAPABILITY,
    feedback.CAPABILITY,
    dashboard.CAPABILITY,
    rate_limits.CAPABILITY,
    metrics.CAPABILITY,
]
METHODS = methods_of(CAPABILITIES)
REGISTRY = registry_of(CAPABILITIES)


def build_worker(engine: AsyncEngine, settings: Settings, wakeup: asyncio.Event | None = None) -> Worker:
    """The worker of every task kind, embedded or in its own process."""
    return Worker(engine, settings, REGISTRY, wakeup=wakeup)


DESCRIPTION = """\
Subscription statistics for marketing profile databases, in the Altcraft Marketing
Platform API v1.1 dialect. Every method is `POST /api/v1.1/<area>/<method>` with a JSON
or XML body (`Content-Type`), the token as the `token` field or `Authorization: Bearer`,
and an envelope `{"data", "error", "error_text"}` in the format asked by `format`.
"""


def create_app(settings: Settings, *, embedded_worker: bool = True) -> FastAPI:
    """The API, and with ``embedded_worker`` the worker in the same process."""

    known_tokens = KnownTokens(token_authenticate)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        runtime = Runtime(engine=engine, settings=settings, registry=REGISTRY)
        app.state.runtime = runtime
        stop = asyncio.Event()
        background = []
        if embedded_worker:
            background.append(asyncio.create_task(build_worker(engine, settings, runtime.task_queued).run(stop)))
        if not is_sqlite(engine):
            background.append(asyncio.create_task(known_tokens.listen(settings.database_url, stop)))
            background.append(asyncio.create_task(runtime.known_statuses.listen(settings.database_url, stop)))
        try:
            yield
        finally:
            runtime.is_stopping = True
            stop.set()
            for task in background:
                await task
            await engine.dispose()

    # /docs and /redoc from files shipped in fastapi-offline, not from a CDN: on a box with
    # no way out (an air-gapped network) they would otherwise be blank pages.
    app = FastAPIOffline(title="Tally", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    mount_api(
        app,
        METHODS,
        known_tokens.authenticate,
        max_body_bytes=settings.max_body_bytes,
        body_timeout=settings.body_timeout,
        hooks=request_hooks_of(CAPABILITIES, settings),
    )
    app.router.routes.extend(pages_of(CAPABILITIES))

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        runtime: Runtime = app.state.runtime
        try:
            async with read_transaction(runtime.engine):
                pass
            current = await is_current(runtime.engine)
        except Exception as exc:
            return JSONResponse({"status": "database unreachable", "detail": type(exc).__name__}, 503)
        if not current:
            return JSONResponse({"status": "migrations pending: run 'tally migrate'"}, 503)
        if runtime.is_stopping:
            return JSONResponse({"status": "stopping"}, 503)
        return JSONResponse({"status": "ready"})

    return app
