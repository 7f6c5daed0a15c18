"""Remembered statuses (queue/known_statuses.py): recalled until a change of the task, of
a row naming it or of a task sharing its dedupe key is heard, never while changes are not
heard; and the triggers of migration 0019 that send those notifications."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import psycopg
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.config import Settings
from tally.counters import refresh
from tally.feedback.queries import delivery_register
from tally.queue import known_statuses, queries
from tally.queue.known_statuses import CHANNEL, KnownStatuses
from tally.queue.worker import Worker
from tally.runtime import Runtime
from tally.store.engine import write_transaction
from tally.store.notifications import libpq_dsn
from tests.helpers import Api, heard_all, make_app, runtime_of
from tests.queue.support import LEASE, T0, insert_task, registry_for

DATA = {"status": "queued"}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def listening_statuses(clock: Callable[[], float] | None = None) -> KnownStatuses:
    known = KnownStatuses(clock or Clock())
    known.set_listening(True)
    return known


def test_nothing_is_remembered_while_changes_are_not_heard() -> None:
    known = KnownStatuses()
    known.remember(1, "t1", DATA, names=["t1"], read_at=known.generation)
    assert known.recall(1, "t1") is None and known.remembered == {}


def test_a_status_is_recalled_until_one_of_its_names_is_heard() -> None:
    known = listening_statuses()
    known.remember(1, "t1", DATA, names=["t1", "key:a"], read_at=known.generation)
    known.remember(1, "t2", {"status": "completed"}, names=["t2", "key:a"], read_at=known.generation)
    known.remember(1, "t3", DATA, names=["t3", "key:b"], read_at=known.generation)
    known.heard("t9")
    assert known.recall(1, "t1") == DATA and known.recall(2, "t1") is None  # another account's
    known.heard("t1")
    assert known.recall(1, "t1") is None and known.recall(1, "t2") is not None
    known.heard("key:a")  # a task of the same key changed: t2's in_progress may have
    assert known.recall(1, "t2") is None and known.recall(1, "t3") == DATA
    assert set(known.concerned) == {"t3", "key:b"}


def test_a_read_that_a_change_of_its_task_or_key_overtook_is_not_remembered() -> None:
    known = listening_statuses()
    for overtaking in ("t1", "key:a"):  # heard while t1 was read: its commit may follow the read
        read_at = known.generation
        known.heard(overtaking)
        known.remember(1, "t1", DATA, names=["t1", "key:a"], read_at=read_at)
        assert known.recall(1, "t1") is None
    read_at = known.generation
    known.heard("t2")  # another task, another key: the read stands
    known.heard("key:b")
    known.remember(1, "t1", DATA, names=["t1", "key:a"], read_at=read_at)
    assert known.recall(1, "t1") == DATA


def test_a_change_heard_before_the_read_began_does_not_stop_it_being_remembered() -> None:
    known = listening_statuses()
    known.heard("t1")  # committed before the read: the read sees it
    known.remember(1, "t1", DATA, names=["t1"], read_at=known.generation)
    assert known.recall(1, "t1") == DATA


def test_past_the_names_it_keeps_a_read_older_than_them_is_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(known_statuses, "MAX_HEARD", 3)
    known = listening_statuses()
    read_at = known.generation
    for name in ("t1", "t2", "t3", "t4"):  # t1's notification is no longer kept
        known.heard(name)
    assert list(known.heard_at) == ["t2", "t3", "t4"]
    known.remember(1, "t1", DATA, names=["t1"], read_at=read_at)
    assert known.recall(1, "t1") is None, "t1 may have changed after this read"
    known.remember(1, "t1", DATA, names=["t1"], read_at=known.generation)
    assert known.recall(1, "t1") == DATA


def test_a_status_is_read_again_after_remember_seconds() -> None:
    clock = Clock()
    known = listening_statuses(clock)
    known.remember(1, "t1", DATA, names=["t1"], read_at=known.generation)
    clock.now += known_statuses.REMEMBER_SECONDS - 1
    assert known.recall(1, "t1") == DATA
    clock.now += 1
    assert known.recall(1, "t1") is None


def test_everything_is_forgotten_when_listening_stops_or_starts() -> None:
    known = listening_statuses()
    known.remember(1, "t1", DATA, names=["t1"], read_at=known.generation)
    known.set_listening(False)
    assert known.recall(1, "t1") is None and known.remembered == {} and known.concerned == {}
    known.remember(1, "t1", DATA, names=["t1"], read_at=known.generation)
    known.set_listening(True)
    assert known.remembered == {}


def test_past_the_bound_the_oldest_status_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(known_statuses, "MAX_REMEMBERED", 2)
    known = listening_statuses()
    for task_id in ("t1", "t2", "t3"):
        known.remember(1, task_id, DATA, names=[task_id], read_at=known.generation)
    assert list(known.remembered) == [(1, "t2"), (1, "t3")] and set(known.concerned) == {"t2", "t3"}


# --- on PostgreSQL ------------------------------------------------------------------------


@pytest.fixture
def postgres(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("changes are heard only on PostgreSQL (NOTIFY)")


async def _heard_while(database_url: str, change: Callable[[], object]) -> list[str]:
    """The payloads on tally_task_changes while ``change`` runs (and commits): until an end
    marker sent after it, since notifications arrive in commit order."""
    async with await psycopg.AsyncConnection.connect(libpq_dsn(database_url), autocommit=True) as conn:
        await conn.execute(f"LISTEN {CHANNEL}")
        await change()  # type: ignore[misc]
        await conn.execute("SELECT pg_notify(%s, 'end')", (CHANNEL,))
        heard: list[str] = []
        async for notification in conn.notifies(timeout=10):
            if notification.payload == "end":
                return heard
            heard.append(notification.payload)
    raise AssertionError(f"the end marker never came (heard {heard})")


@pytest.mark.usefixtures("postgres")
async def test_every_change_of_a_task_or_its_deliveries_is_notified(engine: AsyncEngine, database_url: str) -> None:
    account_id = (await token_create(engine, "notified")).account_id
    task_id = ""

    async def insert() -> None:
        nonlocal task_id
        task_id = await insert_task(engine, account_id, dedupe_key="pair:1")

    assert await _heard_while(database_url, insert) == [task_id, "key:pair:1"]

    async def claim() -> None:
        async with write_transaction(engine) as conn:
            claimed = await queries.task_claim(conn, owner="w", now=T0, lease=LEASE)
            assert claimed is not None and claimed.id == task_id

    assert await _heard_while(database_url, claim) == [task_id]  # still the key's active task

    async def renew() -> None:
        async with write_transaction(engine) as conn:
            await queries.task_renew_lease(conn, task_id=task_id, owner="w", now=T0, lease=LEASE)

    assert await _heard_while(database_url, renew) == [], "a lease renewed shows nowhere in tasks/status"

    async def progress_and_complete() -> None:
        async with write_transaction(engine) as conn:
            await queries.task_renew_lease(conn, task_id=task_id, owner="w", now=T0, lease=LEASE, progress=50)
            await queries.task_complete(conn, task_id=task_id, owner="w", now=T0, result=[])

    assert await _heard_while(database_url, progress_and_complete) == [task_id, "key:pair:1"]  # once each

    async def register_delivery() -> None:
        async with write_transaction(engine) as conn:
            await delivery_register(
                conn, task_id=task_id, account_id=account_id, url="http://127.0.0.1:9/", type_="json", now=T0
            )

    assert await _heard_while(database_url, register_delivery) == [task_id]

    async def purge() -> None:
        async with write_transaction(engine) as conn:
            await queries.task_purge_finished(conn, before=T0.replace(year=2100))

    assert await _heard_while(database_url, purge) == [task_id]  # it was no longer active


@pytest.fixture
async def app_and_worker(engine: AsyncEngine, settings: Settings) -> AsyncIterator[tuple[Api, Runtime, Worker]]:
    """An app on PostgreSQL that hears task changes, and a worker the test runs by hand."""
    worker = Worker(engine, settings, registry_for({refresh.KIND: refresh.run_refresh}))
    async with make_app(settings, embedded_worker=False) as client:
        runtime = runtime_of(client)
        for _ in range(250):
            if runtime.known_statuses.listening:
                break
            await asyncio.sleep(0.02)
        assert runtime.known_statuses.listening
        yield await Api.for_new_account(client, engine), runtime, worker


def _polls(answer: str) -> float:
    return REGISTRY.get_sample_value("tally_task_status_polls_total", {"answer": answer}) or 0.0


def _count_statements(engine: AsyncEngine) -> list[str]:
    statements: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _seen(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    return statements


@pytest.mark.usefixtures("postgres")
async def test_a_poll_of_an_unchanged_task_reads_nothing_and_a_change_shows_at_once(
    app_and_worker: tuple[Api, Runtime, Worker],
) -> None:
    api, runtime, worker = app_and_worker
    database_id, resource_id = await api.setup_catalog()
    ids = {"id": database_id, "resource_id": resource_id}
    first = (await api.ok("databases/refresh_counters", ids))["task_id"]
    assert (await api.ok("tasks/status", {"task_id": first}))["status"] == "queued"
    statements = _count_statements(runtime.engine)
    remembered = _polls("remembered")
    for _ in range(3):
        assert (await api.ok("tasks/status", {"task_id": first}))["status"] == "queued"
    assert _polls("remembered") == remembered + 3  # as /metrics shows
    read = [statement for statement in statements if "pg_notify" not in statement]  # but heard_all's
    assert read == [], "a remembered status (and token) is not read again"

    assert await worker.run_once()  # the worker's commit is heard: the next poll reads it
    done = await api.ok("tasks/status", {"task_id": first})
    assert (done["status"], done["result"][0]["in_progress"]) == ("completed", False)

    second = (await api.ok("databases/refresh_counters", ids))["task_id"]  # the same pair's key
    shown = await api.ok("tasks/status", {"task_id": first})
    assert (shown["result"][0]["in_progress"], shown["result"][0]["refresh_task_id"]) == (True, second)


@pytest.mark.usefixtures("postgres")
async def test_without_the_barrier_a_change_shows_within_milliseconds(
    app_and_worker: tuple[Api, Runtime, Worker], engine: AsyncEngine
) -> None:
    api, runtime, worker = app_and_worker
    database_id, resource_id = await api.setup_catalog()
    task_id = (await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id}))["task_id"]
    await api.ok("tasks/status", {"task_id": task_id})
    assert runtime.known_statuses.recall(api.account_id, task_id) is not None
    assert await worker.run_once()
    for _ in range(2500):  # the app's own listener, no barrier: milliseconds, 5 s at most
        if runtime.known_statuses.recall(api.account_id, task_id) is None:
            break
        await asyncio.sleep(0.002)
    assert runtime.known_statuses.recall(api.account_id, task_id) is None
    await heard_all(runtime.known_statuses, engine)


async def test_on_sqlite_every_poll_reads(engine: AsyncEngine, settings: Settings, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("the embedded default hears no changes")
    async with make_app(settings, embedded_worker=False) as client:
        api = await Api.for_new_account(client, engine)
        database_id, resource_id = await api.setup_catalog()
        ids = {"id": database_id, "resource_id": resource_id}
        task_id = (await api.ok("databases/refresh_counters", ids))["task_id"]
        runtime = runtime_of(client)
        statements = _count_statements(runtime.engine)
        for _ in range(2):
            assert (await api.ok("tasks/status", {"task_id": task_id}))["status"] == "queued"
        assert sum("FROM tasks" in statement for statement in statements) == 2
        assert not runtime.known_statuses.listening and runtime.known_statuses.remembered == {}
