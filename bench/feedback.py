"""Feedback benchmark: deliveries per second from Tally's worker to a local receiver.

Queues N deliveries the way a finishing task does (``release_deliveries``: body built, a
delivery job queued per delivery), then runs the worker (the real delivery job: signing,
SSRF guard, one POST each) at each concurrency and measures the time until every
delivery is ``delivered``. The receiver is a separate process on 127.0.0.1 answering 204
at once, so the figure is Tally's side: queue, database writes, HTTP client.

Usage: python bench/feedback.py [--deliveries N] [--concurrency 1,4,16] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from ipaddress import ip_network
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.accounts.service import token_create
from tally.config import Settings
from tally.feedback import runner
from tally.feedback.queries import delivery_register
from tally.feedback.service import release_deliveries, secret_create
from tally.queue.execution import TaskKind
from tally.queue.queries import task_get_any, task_insert
from tally.queue.registry import Registry, TaskEnded
from tally.queue.worker import Worker
from tally.store.engine import create_engine, is_sqlite, read_transaction, write_transaction
from tally.store.migrate import upgrade
from tally.store.tables import feedback_deliveries, tasks
from tally.store.types import utcnow

#: A minimal HTTP receiver (asyncio, one process): reads each request, answers 204.
RECEIVER = r"""
import asyncio, signal, sys

count = 0

async def handle(reader, writer):
    global count
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        count += 1
        writer.write(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
        await writer.drain()
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    print(count, flush=True)

asyncio.run(main())
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


#: What tasks/status shows for a finished refresh, at a realistic size.
_CHANNEL = {"all": 1336, "complained": 0, "hardbounced": 411, "invalid": 0, "subscribed": 925}
RESULT = [{"channels": [{"channel": name, "status": _CHANNEL} for name in ("email", "push", "sms")]}]


async def queue_deliveries(engine: AsyncEngine, account_id: int, url: str, count: int) -> None:
    """``count`` finished parent tasks with one released delivery each."""
    now = utcnow()
    for start in range(0, count, 100):
        async with write_transaction(engine) as conn:
            for _ in range(min(100, count - start)):
                parent, _ = await task_insert(conn, account_id=account_id, kind="bench_parent", params={}, now=now)
                await conn.execute(
                    update(tasks).where(tasks.c.id == parent).values(status="completed", result=RESULT, finished_at=now)
                )
                await delivery_register(conn, task_id=parent, account_id=account_id, url=url, type_="JSON", now=now)
                finished = await task_get_any(conn, parent)
                assert finished is not None
                await release_deliveries(TaskEnded(conn, finished, now, Registry()))


async def delivered(engine: AsyncEngine) -> tuple[int, int]:
    async with read_transaction(engine) as conn:
        rows = await conn.execute(
            select(feedback_deliveries.c.status, func.count()).group_by(feedback_deliveries.c.status)
        )
        counts: dict[str, int] = {status: count for status, count in rows}
    return counts.get("delivered", 0), sum(counts.values())


async def run_level(engine: AsyncEngine, settings: Settings, account_id: int, url: str, count: int) -> float:
    async with write_transaction(engine) as conn:
        await conn.execute(feedback_deliveries.delete())
        await conn.execute(tasks.delete())
    await queue_deliveries(engine, account_id, url, count)
    worker = Worker(engine, settings, Registry.of(TaskKind(runner.KIND, runner.run_delivery)))
    stop = asyncio.Event()
    started = time.perf_counter()
    running = asyncio.create_task(worker.run(stop))
    while (done := await delivered(engine))[0] < count:
        if running.done() or time.perf_counter() - started > 600:
            raise SystemExit(f"stuck at {done[0]}/{count} delivered")
        await asyncio.sleep(0.02)
    elapsed = time.perf_counter() - started
    stop.set()
    await running
    return elapsed


async def main(args: argparse.Namespace) -> None:
    database_url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    engine = create_engine(database_url)
    await upgrade(engine)
    if not is_sqlite(engine):
        log("note: the bench deletes every task and delivery of this database between levels")
    name = f"bench-{uuid.uuid4().hex[:8]}"
    account_id = (await token_create(engine, name)).account_id
    await secret_create(engine, name, grace=timedelta(0))  # signed, like a real account

    receiver = await asyncio.create_subprocess_exec(sys.executable, "-c", RECEIVER, stdout=asyncio.subprocess.PIPE)
    try:
        assert receiver.stdout is not None
        url = f"http://127.0.0.1:{(await receiver.stdout.readline()).decode().strip()}/hook"
        backend = "SQLite" if is_sqlite(engine) else "PostgreSQL"
        print(f"{args.deliveries} deliveries, signed JSON, {backend}, receiver answering 204 on 127.0.0.1")
        print(f"{'concurrency':>12} {'seconds':>9} {'deliveries/s':>13}")
        for concurrency in args.concurrency:
            settings = Settings(
                database_url=database_url,
                worker_concurrency=concurrency,
                poll_interval=0.05,
                feedback_allowed_networks=(ip_network("127.0.0.0/8"),),
            )
            elapsed = await run_level(engine, settings, account_id, url, args.deliveries)
            print(f"{concurrency:>12} {elapsed:>9.2f} {args.deliveries / elapsed:>13.0f}", flush=True)
    finally:
        receiver.terminate()
        received = (await receiver.communicate())[0].decode().strip()
        await engine.dispose()
    expected = args.deliveries * len(args.concurrency)
    print(f"receiver got {received} requests (expected {expected})")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=300)
    parser.add_argument("--concurrency", type=lambda raw: [int(part) for part in raw.split(",")], default=[1, 4, 16])
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file in a temp directory")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
