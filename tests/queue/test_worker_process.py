"""Real ``tally worker`` processes: killed with SIGKILL mid-task, stopped with SIGTERM.

A refresh of a few thousand profiles takes a fraction of a second, so the tests catch it
mid-way by watching the task row: TALLY_COUNT_CHUNK_SIZE=50 and an earlier refresh (whose
counts weigh the chunks) give it about twenty chunks, each one a progress write.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Row, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.catalog.channels import CHANNEL_NAMES
from tally.config import Settings
from tally.counters import refresh
from tally.profiles.statuses import SENDABLE_STATUSES, Status
from tally.queue.worker import Worker
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import counter_sets, profiles
from tests.queue.support import add_catalog, registry_for, task_row

pytestmark = pytest.mark.slow

TALLY = Path(sys.executable).parent / "tally"
PROFILES = 5_000


class TallyProcess:
    """One ``tally`` subprocess, its stderr in a file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str]) -> None:
        self.log = log
        with log.open("wb") as stderr:
            self.popen = subprocess.Popen(
                [str(TALLY), *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, env=env
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_exit(self, within: float) -> int:
        deadline = asyncio.get_running_loop().time() + within
        while (code := self.popen.poll()) is None:
            assert asyncio.get_running_loop().time() < deadline, f"still running after {within}s:\n{self.output()}"
            await asyncio.sleep(0.02)
        return code

    async def wait_log(self, fragment: str, within: float = 15) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while fragment not in self.output():
            assert self.popen.poll() is None, f"exited {self.popen.returncode}:\n{self.output()}"
            assert asyncio.get_running_loop().time() < deadline, f"no {fragment!r} after {within}s:\n{self.output()}"
            await asyncio.sleep(0.02)


@pytest.fixture
def spawn_worker(tmp_path: Path) -> Iterator[Callable[[str], TallyProcess]]:
    """Starts ``tally worker`` processes on a database URL; kills any left at the end."""
    started: list[TallyProcess] = []
    env = {key: value for key, value in os.environ.items() if not key.startswith("TALLY_")}
    env |= {"TALLY_COUNT_CHUNK_SIZE": "50", "TALLY_LEASE_SECONDS": "2", "TALLY_POLL_INTERVAL": "0.1"}

    def spawn(url: str) -> TallyProcess:
        process = TallyProcess(["worker", "--database-url", url], tmp_path / f"worker-{len(started) + 1}.log", env)
        started.append(process)
        return process

    yield spawn
    for process in started:
        if process.popen.poll() is None:
            process.popen.kill()
            process.popen.wait(10)


@pytest.fixture
def start_worker(database_url: str, spawn_worker: Callable[[str], TallyProcess]) -> Callable[[], TallyProcess]:
    """Starts a ``tally worker`` on the test database (SQLite, and PostgreSQL when configured)."""
    url = database_url.replace("sqlite+aiosqlite:///", "sqlite:///")
    return lambda: spawn_worker(url)


async def _queue_refresh(engine: AsyncEngine, settings: Settings, account_id: int) -> tuple[str, int, int]:
    """A database of demo profiles, refreshed once already, and a recount queued (the long task)."""
    database_id, resource_id = await add_catalog(engine, account_id, PROFILES)
    async with write_transaction(engine) as conn:
        await refresh.refresh_start(conn, account_id, database_id, resource_id)
    assert await Worker(engine, settings, registry_for({refresh.KIND: refresh.run_refresh})).run_once()
    async with write_transaction(engine) as conn:
        task_id = await refresh.refresh_start(conn, account_id, database_id, resource_id, recount=True)
    return task_id, database_id, resource_id


async def _wait_mid_run(engine: AsyncEngine, task_id: str, progress_seen: list[int], within: float = 20) -> Row[Any]:
    """The task row once it is processing with some progress, well before its end."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        row = await task_row(engine, task_id)
        progress_seen.append(row.progress)
        assert row.status in ("queued", "processing"), f"refresh ended before it was caught: {row.status}"
        if row.status == "processing" and 0 < row.progress < 80:
            return row
        assert asyncio.get_running_loop().time() < deadline, f"task still {row.status} after {within}s"
        await asyncio.sleep(0.005)


async def _wait_finished(engine: AsyncEngine, task_id: str, progress_seen: list[int], within: float = 20) -> Row[Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        row = await task_row(engine, task_id)
        progress_seen.append(row.progress)
        if row.status in ("completed", "error"):
            return row
        assert asyncio.get_running_loop().time() < deadline, f"task still {row.status} after {within}s"
        await asyncio.sleep(0.02)


async def _counted_by_sql(engine: AsyncEngine, database_id: int, resource_id: int) -> dict[str, dict[str, int]]:
    """The counters of api.md section 3, counted straight from the subscriptions table."""
    query = text(
        "SELECT channel, status, count(*), sum(CASE WHEN is_sendable THEN 1 ELSE 0 END) FROM subscriptions"
        " WHERE database_id = :db AND resource_id = :res AND is_effective GROUP BY channel, status"
    )
    async with read_transaction(engine) as conn:
        live = int(
            await conn.scalar(
                select(func.count())
                .select_from(profiles)
                .where(profiles.c.database_id == database_id, profiles.c.is_deleted.is_(False))
            )
            or 0
        )
        rows = (await conn.execute(query, {"db": database_id, "res": resource_id})).all()
    expected: dict[str, dict[str, int]] = {}
    for name in ("email", "push", "sms"):
        expected[name] = {"all": live} | {status.word: 0 for status in Status}
        expected[name] |= {f"{status.word}_sendable": 0 for status in SENDABLE_STATUSES}
    for channel, status, count, sendable in rows:
        counters = expected[CHANNEL_NAMES[channel]]
        counters[Status(status).word] = int(count)
        if Status(status) in SENDABLE_STATUSES:
            counters[f"{Status(status).word}_sendable"] = int(sendable)
    return expected


async def test_worker_process_killed_mid_refresh_task_recovered(
    engine: AsyncEngine, settings: Settings, account_id: int, start_worker: Callable[[], TallyProcess]
) -> None:
    task_id, database_id, resource_id = await _queue_refresh(engine, settings, account_id)
    progress_seen: list[int] = []
    first = start_worker()
    await _wait_mid_run(engine, task_id, progress_seen)
    first.popen.send_signal(signal.SIGKILL)
    assert await first.wait_exit(10) == -signal.SIGKILL
    abandoned = await task_row(engine, task_id)
    assert (abandoned.status, abandoned.attempts) == ("processing", 1), first.output()
    assert abandoned.progress > 0

    second = start_worker()
    finished = await _wait_finished(engine, task_id, progress_seen)
    assert (finished.status, finished.attempts, finished.progress) == ("completed", 2, 100), second.output()
    assert progress_seen == sorted(progress_seen)
    [element] = finished.result
    assert {entry["channel"]: entry["status"] for entry in element["channels"]} == await _counted_by_sql(
        engine, database_id, resource_id
    )
    async with read_transaction(engine) as conn:
        stored = (await conn.execute(select(counter_sets))).all()
        refreshes = await conn.scalar(text("SELECT count(*) FROM tasks WHERE kind = :kind"), {"kind": refresh.KIND})
    assert [(row.database_id, row.resource_id, row.task_id) for row in stored] == [(database_id, resource_id, task_id)]
    assert stored[0].channels == element["channels"]
    assert refreshes == 2  # the earlier refresh and this one: recovery never copied the row
    second.popen.send_signal(signal.SIGTERM)
    assert await second.wait_exit(10) == 0


async def test_worker_process_sigterm_idle_exits_zero(
    tmp_path: Path, spawn_worker: Callable[[str], TallyProcess]
) -> None:
    # Nothing here depends on the backend: one SQLite file, which the worker migrates itself.
    worker = spawn_worker(f"sqlite:///{tmp_path / 'idle.db'}")
    await worker.wait_log("started")
    started = asyncio.get_running_loop().time()
    worker.popen.send_signal(signal.SIGTERM)
    assert await worker.wait_exit(5) == 0, worker.output()
    assert asyncio.get_running_loop().time() - started < 2
    assert "stopped" in worker.output()


async def test_worker_process_sigterm_mid_task_finishes_it_first(
    engine: AsyncEngine, settings: Settings, account_id: int, start_worker: Callable[[], TallyProcess]
) -> None:
    task_id, _, _ = await _queue_refresh(engine, settings, account_id)
    worker = start_worker()
    await _wait_mid_run(engine, task_id, [])
    worker.popen.send_signal(signal.SIGTERM)
    assert await worker.wait_exit(10) == 0, worker.output()
    row = await task_row(engine, task_id)
    assert (row.status, row.attempts, row.progress) == ("completed", 1, 100)
    async with read_transaction(engine) as conn:
        assert await conn.scalar(select(func.count()).select_from(counter_sets)) == 1
