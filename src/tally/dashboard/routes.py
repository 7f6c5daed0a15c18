"""The dashboard's pages: sign-in, home, one (database, resource), tasks and schedules.

Each page is a Starlette route outside the API (nothing here is in /openapi.json). A page
that htmx asks for a part of (``HX-Request``) gets that part alone; the same URL without
JavaScript gives the whole page, so every page reads and works with scripts off.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import available_timezones

from cron_descriptor import Options, get_description
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from tally.capability import Capability
from tally.counters.refresh import refresh_start
from tally.dashboard import views
from tally.dashboard.charts import history_chart
from tally.dashboard.guard import FormRefused, read_form
from tally.dashboard.pages import Handler, Visit, is_htmx, render, runtime_of, secured, signed_in
from tally.dashboard.sessions import COOKIE, purge_sessions, session_close, session_find, session_open
from tally.errors import NotFound, Unauthorized
from tally.queue.registry import MaintenancePass
from tally.schedules import service as schedules
from tally.schedules.cron import InvalidSchedule, check_cron, check_timezone, next_dues
from tally.store.engine import read_transaction, write_transaction
from tally.store.types import utcnow

log = logging.getLogger("tally.dashboard")

SCHEDULES_SHOWN = 200
PREVIEW_RUNS = 5
TIMEZONES = sorted(available_timezones())


# --- signing in and out -----------------------------------------------------------------


async def login_page(request: Request) -> Response:
    if await session_find(runtime_of(request).engine, request.cookies.get(COOKIE)) is not None:
        return secured(RedirectResponse("/", status_code=303))
    return render(request, "login.html", {"session": None, "error": ""})


async def login(request: Request) -> Response:
    runtime = runtime_of(request)
    try:
        form = await read_form(request)
        opened = await session_open(runtime.engine, form.get("token", ""), runtime.settings)
        # A new sign-in replaces the browser's session: the old one ends now, not at expiry.
        await session_close(runtime.engine, request.cookies.get(COOKIE))
    except FormRefused as refused:
        return render(request, "login.html", {"session": None, "error": refused.text}, refused.status)
    except Unauthorized:
        error = "That token is unknown or revoked. Create one with: tally token create --account NAME"
        return render(request, "login.html", {"session": None, "error": error}, 401)
    log.info("dashboard sign-in: account %s", opened.session.account_name)
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        opened.cookie,
        max_age=int(runtime.settings.dashboard_session_hours * 3600),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return secured(response)


@signed_in
async def logout(visit: Visit) -> Response:
    await session_close(visit.runtime.engine, visit.request.cookies.get(COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return secured(response)


# --- home and one (database, resource) ----------------------------------------------------


@signed_in
async def home(visit: Visit) -> Response:
    async with read_transaction(visit.runtime.engine) as conn:
        pairs = await views.pairs(conn, visit.session.account_id)
        unlinked = await views.unlinked(conn, visit.session.account_id)
    return visit.render("home.html", pairs=pairs, unlinked=unlinked, now=utcnow())


def object_id(raw: object) -> int:
    """A database, resource or schedule id: 1 to 2**63 - 1 (ValueError otherwise: no row has it)."""
    number = int(str(raw))
    if not 0 < number < 2**63:
        raise ValueError(f"{raw!r} is no id")
    return number


def _path_ids(request: Request) -> tuple[int, int]:
    try:
        return object_id(request.path_params["database_id"]), object_id(request.path_params["resource_id"])
    except ValueError:
        raise NotFound() from None


def _window(request: Request) -> str:
    window = request.query_params.get("window", views.DEFAULT_WINDOW)
    return window if window in views.WINDOWS else views.DEFAULT_WINDOW


async def _history_context(visit: Visit, window: str) -> dict[str, Any]:
    database_id, resource_id = _path_ids(visit.request)
    async with read_transaction(visit.runtime.engine) as conn:
        series = await views.history_series(conn, visit.session.account_id, database_id, resource_id, window, utcnow())
    return {
        "window": window,
        "windows": views.WINDOWS,
        "charts": [(line, history_chart(line)) for line in series],
        "database_id": database_id,
        "resource_id": resource_id,
    }


@signed_in
async def pair(visit: Visit) -> Response:
    database_id, resource_id = _path_ids(visit.request)
    async with read_transaction(visit.runtime.engine) as conn:
        counters = await views.pair_counters(conn, visit.session.account_id, database_id, resource_id)
        active = await views.active_refresh(conn, visit.session.account_id, database_id, resource_id)
    history = await _history_context(visit, _window(visit.request))
    return visit.render("pair.html", counters=counters, active=active, now=utcnow(), **history)


@signed_in
async def pair_counters(visit: Visit) -> Response:
    """The counters part of the pair page, redrawn by htmx when a refresh completes."""
    database_id, resource_id = _path_ids(visit.request)
    async with read_transaction(visit.runtime.engine) as conn:
        counters = await views.pair_counters(conn, visit.session.account_id, database_id, resource_id)
    return visit.render("_counters.html", counters=counters, now=utcnow())


@signed_in
async def pair_history(visit: Visit) -> Response:
    if not is_htmx(visit.request):
        database_id, resource_id = _path_ids(visit.request)
        return visit.redirect(f"/databases/{database_id}/resources/{resource_id}?window={_window(visit.request)}")
    return visit.render("_history.html", **await _history_context(visit, _window(visit.request)))


@signed_in
async def refresh(visit: Visit) -> Response:
    database_id, resource_id = _path_ids(visit.request)
    async with write_transaction(visit.runtime.engine) as conn:
        task_id = await refresh_start(conn, visit.session.account_id, database_id, resource_id)
    visit.runtime.task_queued.set()
    if not is_htmx(visit.request):
        return visit.redirect(f"/tasks/{task_id}")
    async with read_transaction(visit.runtime.engine) as conn:
        task = await views.task(conn, visit.session.account_id, task_id)
    return _progress(visit, task)


# --- tasks ----------------------------------------------------------------------------------


@signed_in
async def task_list(visit: Visit) -> Response:
    async with read_transaction(visit.runtime.engine) as conn:
        tasks = await views.recent_tasks(conn, visit.session.account_id)
    return visit.render("tasks.html", tasks=tasks, now=utcnow())


@signed_in
async def task_page(visit: Visit) -> Response:
    async with read_transaction(visit.runtime.engine) as conn:
        task = await views.task(conn, visit.session.account_id, visit.request.path_params["task_id"])
    return visit.render("task.html", task=task, now=utcnow())


@signed_in
async def task_progress(visit: Visit) -> Response:
    """The progress part, polled by htmx; the end of the task tells the page to redraw."""
    async with read_transaction(visit.runtime.engine) as conn:
        task = await views.task(conn, visit.session.account_id, visit.request.path_params["task_id"])
    return _progress(visit, task)


def _progress(visit: Visit, task: views.TaskView) -> Response:
    """The progress part; once the task has ended (it may have before the refresh's own
    reply), the reply tells the page to redraw, and the one live region says so."""
    response = visit.render("_progress.html", task=task, announce=True)
    if not task.is_active:
        response.headers["HX-Trigger"] = "tally-task-ended"
    return response


# --- schedules ------------------------------------------------------------------------------


def describe_cron(expression: str) -> str:
    options = Options()
    options.use_24hour_time_format = True
    return str(get_description(expression, options))


def cron_preview(cron: str, timezone: str, now: datetime) -> dict[str, object]:
    """The expression in words and its next runs, or what is wrong with it."""
    try:
        cron, timezone = check_cron(cron), check_timezone(timezone or "UTC")
    except InvalidSchedule as invalid:
        return {"error": f"Not a schedule Tally can run: {invalid}", "words": "", "runs": []}
    runs = [views.Moment(at) for at in next_dues(cron, timezone, now, PREVIEW_RUNS)]
    return {"error": "", "words": describe_cron(cron), "runs": runs, "timezone": timezone}


async def _schedules_page(
    visit: Visit, status: int = 200, error: str = "", form: dict[str, str] | None = None
) -> Response:
    async with read_transaction(visit.runtime.engine) as conn:
        page = await schedules.schedule_list(conn, visit.session.account_id, 0, SCHEDULES_SHOWN)
        pairs = await views.pairs(conn, visit.session.account_id)
    now = utcnow()
    shown = [
        (schedule, describe_cron(schedule.cron), views.Moment(schedule.next_due_at), views.moment(schedule.last_run_at))
        for schedule in page.items
    ]
    form = form or {"cron": "0 6 * * *", "timezone": "UTC", "pair": ""}
    return visit.render(
        "schedules.html",
        status,
        schedules=shown,
        total=page.total_count,
        pairs=pairs,
        form=form,
        error=error,
        preview=cron_preview(form.get("cron", ""), form.get("timezone", ""), now),
        timezones=TIMEZONES,
        now=now,
    )


@signed_in
async def schedule_list(visit: Visit) -> Response:
    return await _schedules_page(visit)


@signed_in
async def schedule_preview(visit: Visit) -> Response:
    query = visit.request.query_params
    preview = cron_preview(query.get("cron", ""), query.get("timezone", ""), utcnow())
    return visit.render("_preview.html", preview=preview)


@signed_in
async def schedule_add(visit: Visit) -> Response:
    """Add a schedule; or, for the Preview button (pressed with scripts off), show it first."""
    form = {name: visit.form.get(name, "") for name in ("pair", "cron", "timezone")}
    if visit.form.get("action") == "preview":
        return await _schedules_page(visit, form=form)
    _writable(visit)
    try:
        database_id, resource_id = (object_id(part) for part in form["pair"].split(":"))
        cron, timezone = check_cron(form["cron"]), check_timezone(form["timezone"] or "UTC")
    except ValueError as invalid:
        field = "cron or time zone" if isinstance(invalid, InvalidSchedule) else "database and resource"
        error = f"The {field} {invalid}" if isinstance(invalid, InvalidSchedule) else "Choose a database and resource."
        log.info("dashboard schedule refused (%s): %s", field, invalid)
        return await _schedules_page(visit, 400, error, form)
    async with write_transaction(visit.runtime.engine) as conn:
        await schedules.schedule_add(
            conn,
            visit.session.account_id,
            database_id,
            resource_id,
            cron=cron,
            timezone=timezone,
            feedback=None,
            now=utcnow(),
        )
    return visit.redirect("/schedules")


def _writable(visit: Visit) -> None:
    if visit.session.read_only:
        raise FormRefused(403, "You signed in with a read-only token: schedules can be changed with a full one.")


def _schedule_change(paused: bool | None) -> Handler:
    async def change(visit: Visit) -> Response:
        _writable(visit)
        try:
            schedule_id = object_id(visit.request.path_params["schedule_id"])
        except ValueError:
            raise NotFound() from None
        async with write_transaction(visit.runtime.engine) as conn:
            if paused is None:
                await schedules.schedule_delete(conn, visit.session.account_id, schedule_id)
            else:
                changes = schedules.ScheduleChanges(paused=paused)
                await schedules.schedule_update(conn, visit.session.account_id, schedule_id, changes, utcnow())
        return visit.redirect("/schedules")

    return change


PAGES: list[BaseRoute] = [
    Route("/", home, name="home"),
    Route("/login", login_page, methods=["GET"], name="login"),
    Route("/login", login, methods=["POST"]),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/databases/{database_id:int}/resources/{resource_id:int}", pair, name="pair"),
    Route("/databases/{database_id:int}/resources/{resource_id:int}/counters", pair_counters),
    Route("/databases/{database_id:int}/resources/{resource_id:int}/history", pair_history),
    Route("/databases/{database_id:int}/resources/{resource_id:int}/refresh", refresh, methods=["POST"]),
    Route("/tasks", task_list, name="tasks"),
    Route("/tasks/{task_id:str}", task_page),
    Route("/tasks/{task_id:str}/progress", task_progress),
    Route("/schedules", schedule_list, methods=["GET"], name="schedules"),
    Route("/schedules", schedule_add, methods=["POST"]),
    Route("/schedules/preview", schedule_preview),
    Route("/schedules/{schedule_id:int}/pause", signed_in(_schedule_change(True)), methods=["POST"]),
    Route("/schedules/{schedule_id:int}/resume", signed_in(_schedule_change(False)), methods=["POST"]),
    Route("/schedules/{schedule_id:int}/delete", signed_in(_schedule_change(None)), methods=["POST"]),
    Mount("/static", StaticFiles(packages=[("tally.dashboard", "static")]), name="static"),
]

CAPABILITY = Capability(
    name="dashboard",
    pages=PAGES,
    maintenance=[MaintenancePass("expired dashboard sessions", purge_sessions)],
)
