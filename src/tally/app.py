"""The ASGI application: every capability's methods, mounted in one readable list."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.responses import JSONResponse

from tally import __version__
from tally.catalog import routes as catalog_routes
from tally.config import Settings
from tally.counters import routes as counters_routes
from tally.feedback import runner as feedback_runner
from tally.feedback.service import release_deliveries
from tally.profiles import routes as profiles_routes
from tally.queue import routes as queue_routes
from tally.queue.kinds import TaskKind
from tally.queue.queries import Task, task_get_any
from tally.queue.routes import status_data
from tally.queue.worker import Worker
from tally.runtime import Runtime
from tally.store.engine import create_engine, read_transaction
from tally.store.migrate import is_current
from tally.wire.endpoint import build_router
from tally.wire.limits import BodyLimit
from tally.wire.methods import Method
from tally.wire.openapi import schema_components

log = logging.getLogger("tally")

METHODS: list[Method] = [
    *catalog_routes.METHODS,
    *profiles_routes.METHODS,
    *counters_routes.METHODS,
    *queue_routes.METHODS,
]


async def _stored_result(conn: AsyncConnection, task: Task) -> Any:
    return task.result


DELIVERY_KIND = TaskKind(feedback_runner.KIND, feedback_runner.run_delivery, _stored_result)
TASK_KINDS: dict[str, TaskKind] = {kind.name: kind for kind in [counters_routes.REFRESH_KIND, DELIVERY_KIND]}


async def _release_feedback(conn: AsyncConnection, task_id: str, now: datetime) -> None:
    """When a task ends, queue its feedback deliveries with the tasks/status envelope."""

    async def status_of(conn: AsyncConnection, task_id: str) -> dict[str, Any]:
        task = await task_get_any(conn, task_id)
        assert task is not None
        return await status_data(conn, task, TASK_KINDS)

    await release_deliveries(conn, task_id, now, status_of)


def build_worker(engine: AsyncEngine, settings: Settings, wakeup: asyncio.Event | None = None) -> Worker:
    """The worker of every task kind, embedded or in its own process."""
    runners = {kind.name: kind.run for kind in TASK_KINDS.values()}
    return Worker(engine, settings, runners, wakeup=wakeup, on_finished=_release_feedback)


DESCRIPTION = """\
Subscription statistics for marketing profile databases, in the Altcraft Marketing
Platform API v1.1 dialect. Every method is `POST /api/v1.1/<area>/<method>` with a JSON
or XML body (`Content-Type`), the token as the `token` field or `Authorization: Bearer`,
and an envelope `{"data", "error", "error_text"}` in the format asked by `format`.
"""


def create_app(settings: Settings, *, embedded_worker: bool = True) -> FastAPI:
    """The API, and with ``embedded_worker`` the worker in the same process."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url)
        runtime = Runtime(engine=engine, settings=settings, task_kinds=TASK_KINDS)
        app.state.runtime = runtime
        stop = asyncio.Event()
        worker_task = None
        if embedded_worker:
            worker_task = asyncio.create_task(build_worker(engine, settings, runtime.task_queued).run(stop))
        try:
            yield
        finally:
            runtime.is_stopping = True
            stop.set()
            if worker_task is not None:
                await worker_task
            await engine.dispose()

    app = FastAPI(title="Tally", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.include_router(build_router(METHODS))
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

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

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(schema_components(METHODS))
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
