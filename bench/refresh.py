"""Refresh benchmark: the full task path against the engine's floor and a naive count.

Loads N demo profiles (deterministic), then measures, side by side in one run:

* ``refresh task``: queue a refresh, a worker claims it, reads the maintained counts,
  writes counters and result (what a user waits for);
* ``recount task``: the same with ``recount``: counts chunk by chunk with progress (the
  proof of the maintained counts);
* ``one aggregate``: the same aggregate over the covering index in one query, no chunks,
  no task (the floor on this engine);
* ``naive count``: what a service without maintained flags would run: pick the effective
  subscription with a window function at query time, join profiles for the global status.

On PostgreSQL it also measures the recount task with ``SET LOCAL enable_seqscan = off``
before each chunk (count_chunk patched here, src is unchanged), the one aggregate with the
same setting and without parallel workers, and the chunk queries of one refresh replayed
alone in one snapshot (the refresh minus the task machinery), also with
``plan_cache_mode = force_custom_plan``. These fast measures are interleaved sample by
sample (on a shared machine, load from others then hits them alike). It checks that the
naive count agrees with the maintained flags, and prints the plans of the chunk queries
count_chunk issues (captured from a real refresh): each planned for its own values (the
planner's choice and with seqscan off), and as the pool's connections really run them once
psycopg has prepared the statement (a generic plan).

Loading: ``--load service`` (default) goes through profiles_add, 10,000 a batch; ``--load
copy`` (PostgreSQL only) uses bench/load.py (COPY, indexes built after). ``--reuse`` takes
the newest bench database that already holds exactly N profiles (PostgreSQL), loading only
if there is none: load 10M once, measure many times. Use one PostgreSQL database per N
(rows of other bench databases in the same tables change the plans; the bench warns).

Prints a table and writes the medians and ratios as JSON (--json).

Usage: python bench/refresh.py [--profiles N] [--database-url URL] [--repeat R]
           [--load service|copy] [--reuse] [--naive-repeat R] [--explain-analyze]
           [--quiet-below PCT]

e.g. python bench/refresh.py --profiles 10000000 --load copy --reuse --naive-repeat 1 \\
         --database-url postgresql+psycopg://postgres@127.0.0.1:5432/tally_bench_10m
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import load as copy_loader
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

import tally.counters.refresh as refresh_module
from tally.app import REGISTRY
from tally.config import Settings
from tally.counters.count import Chunk, Tally
from tally.counters.refresh import refresh_start
from tally.demo import demo_profiles
from tally.profiles.service import profiles_add
from tally.queue.worker import Worker
from tally.store.engine import create_engine, is_sqlite, read_transaction, write_transaction
from tally.store.migrate import upgrade

ONE_AGGREGATE = """
SELECT channel, status, count(*), count(*) FILTER (WHERE is_sendable)
FROM subscriptions WHERE database_id = :db AND resource_id = :res AND is_effective
GROUP BY channel, status
"""
NAIVE_COUNT = """
SELECT channel, status, count(*),
       count(*) FILTER (WHERE is_deliverable AND status IN (0, 4)
                        AND (global_status IS NULL OR global_status IN (0, 4)))
FROM (
  SELECT s.channel, s.status, s.is_deliverable, p.global_status,
         row_number() OVER (PARTITION BY s.profile_id, s.channel
                            ORDER BY s.priority, s.change_seq DESC, s.id DESC) AS rank
  FROM subscriptions s JOIN profiles p ON p.id = s.profile_id
  WHERE s.database_id = :db AND s.resource_id = :res AND NOT s.is_deleted AND NOT p.is_deleted
) ranked
WHERE rank = 1
GROUP BY channel, status
"""
SEQSCAN_OFF = "SET LOCAL enable_seqscan = off"
SERIAL = "SET LOCAL max_parallel_workers_per_gather = 0"
#: psycopg prepares a statement run 5 times on a connection; PostgreSQL then switches to a
#: generic plan after 5 custom ones if it looks no dearer, which for count_chunk's ranges
#: means a serial scan estimated at a few thousand rows. This keeps every plan custom.
CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"
#: count_chunk groups by status alone: how its statement is recognised among the others.
CHUNK_MARK = "GROUP BY subscriptions.status"


REFRESH = "refresh task, maintained counts"
RECOUNT = "recount task (claim, chunks, finish)"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


async def vacuum_until_visible(engine: AsyncEngine) -> None:
    """VACUUM subscriptions until its pages are all-visible (PostgreSQL).

    The load's own VACUUM has left them at 0 % (1M profiles, this session's machine; the
    cause was not found): every count then fetches the heap, and a recount took 3.9x the
    one aggregate instead of 1.4x. A count is an index-only scan: measure it as one.
    """
    visible_share = text(
        "SELECT relallvisible::float / greatest(relpages, 1) FROM pg_class WHERE relname = 'subscriptions'"
    )
    for _ in range(3):
        async with engine.connect() as conn:
            if (await conn.scalar(visible_share) or 0) >= 0.99:
                return
        log("subscriptions pages are not all-visible: VACUUM ANALYZE subscriptions")
        async with engine.connect() as conn:
            autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE subscriptions"))
    log("warning: subscriptions pages are still not all-visible; counts will fetch the heap")


async def load(engine: AsyncEngine, count: int) -> tuple[int, int, int, float]:
    target = await copy_loader.create_target(engine)
    started = time.perf_counter()
    profiles = demo_profiles(count, target.resource_id)
    done = 0
    while batch := list(itertools.islice(profiles, 10_000)):
        async with write_transaction(engine) as conn:
            await profiles_add(conn, target.account_id, target.database_id, batch)
        done += len(batch)
        print(f"\rloading: {done:,}/{count:,}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    if not is_sqlite(engine):
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text("VACUUM ANALYZE subscriptions"))
            await conn.execute(text("VACUUM ANALYZE profiles"))
    return target.account_id, target.database_id, target.resource_id, time.perf_counter() - started


def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of all CPUs since boot, from /proc/stat (Linux)."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


async def wait_until_quiet(busy_below: float, max_wait: float = 30.0) -> bool:
    """Wait until the machine's CPUs were less than ``busy_below`` % busy for 0.5 s.

    Between two samples this bench itself is idle, so the busy share is other processes'
    (the machine may be shared). False if it never got quiet within ``max_wait`` seconds.
    """
    deadline = time.monotonic() + max_wait
    while True:
        idle, total = _cpu_times()
        await asyncio.sleep(0.5)
        idle2, total2 = _cpu_times()
        busy = 100.0 * (1 - (idle2 - idle) / max(total2 - total, 1))
        if busy < busy_below:
            return True
        if time.monotonic() > deadline:
            return False


#: Set from --quiet-below: before each timed sample, wait for the machine to be that quiet.
QUIET_BELOW: float | None = None
NOISY_SAMPLES: list[int] = [0]


async def timed_samples(repeat: int, run: Callable[[], Awaitable[object]]) -> list[float]:
    await run()  # warm-up
    samples = []
    for _ in range(repeat):
        if QUIET_BELOW is not None and not await wait_until_quiet(QUIET_BELOW):
            NOISY_SAMPLES[0] += 1
        started = time.perf_counter()
        await run()
        samples.append(time.perf_counter() - started)
    return samples


@contextlib.contextmanager
def count_chunk_after(setting: str) -> Iterator[None]:
    """Run count_chunk as if it began with ``setting`` (a ``SET LOCAL``; PostgreSQL).

    The setting lasts until the end of the refresh's snapshot transaction, i.e. it covers
    exactly the chunk queries (and the reads before them, which use primary keys anyway).
    src is not changed: the name the refresh calls is replaced while the block runs.
    """
    original = refresh_module.count_chunk

    async def patched(conn: AsyncConnection, database_id: int, resource_id: int, chunk: Chunk, into: Tally) -> None:
        await conn.execute(text(setting))
        await original(conn, database_id, resource_id, chunk, into)

    refresh_module.count_chunk = patched
    try:
        yield
    finally:
        refresh_module.count_chunk = original


@contextlib.contextmanager
def captured_chunk_queries(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """The statements (and parameters) count_chunk sends while the block runs."""
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if CHUNK_MARK in statement:
            captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        yield captured
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def scan_summary(plan: dict[str, Any]) -> str:
    """The scan node(s) of a JSON plan, e.g. ``Parallel Index Only Scan ix_subscriptions_count``."""
    parts = []
    for node in _nodes(plan):
        if "Scan" in node["Node Type"]:
            kind = ("Parallel " if node.get("Parallel Aware") else "") + node["Node Type"]
            parts.append(f"{kind} {node.get('Index Name', '')}".strip())
    workers = max((node.get("Workers Planned", 0) for node in _nodes(plan)), default=0)
    return f"{' + '.join(parts)}, {workers} workers, cost {plan['Total Cost']:,.0f}"


async def explain(conn: AsyncConnection, statement: str, parameters: Any, options: str, seqscan_off: bool) -> Any:
    """EXPLAIN the exact statement the driver was given, in its own transaction."""
    async with conn.begin():  # EXPLAIN (ANALYZE) of a SELECT changes nothing: commit is fine
        if seqscan_off:
            await conn.exec_driver_sql(SEQSCAN_OFF)
        rows = (await conn.exec_driver_sql(f"EXPLAIN ({options}) {statement}", parameters)).all()
    if options.startswith("FORMAT JSON"):
        value = rows[0][0]
        return (json.loads(value) if isinstance(value, str) else value)[0]["Plan"]
    return "\n".join(f"    {row[0]}" for row in rows)


def chunk_label(parameters: dict[str, Any]) -> str:
    """``channel 0, status 0..6`` from count_chunk's bound parameters (``channel_1``, ...)."""
    channel = [value for key, value in sorted(parameters.items()) if key.startswith("channel")]
    status = [value for key, value in sorted(parameters.items()) if key.startswith("status")]
    return f"channel {channel[0]}, status {status[0]}..{status[-1]}" if channel and status else str(parameters)


async def print_plans(
    engine: AsyncEngine, chunks: list[tuple[str, Any]], params: dict[str, int], analyze: bool
) -> None:
    print(
        f"\nplans of the {len(chunks)} chunk queries of one refresh, each planned for its own values "
        "(planner's choice | SET LOCAL enable_seqscan=off):"
    )
    largest: tuple[float, str, Any] | None = None
    async with engine.connect() as conn:
        for statement, parameters in chunks:
            default = await explain(conn, statement, parameters, "FORMAT JSON", seqscan_off=False)
            forced = await explain(conn, statement, parameters, "FORMAT JSON", seqscan_off=True)
            rows = max(node.get("Plan Rows", 0) for node in _nodes(default) if "Scan" in node["Node Type"])
            if largest is None or rows > largest[0]:
                largest = (rows, statement, parameters)
            print(f"  {chunk_label(parameters)}: {scan_summary(default)} | {scan_summary(forced)}")
        if largest is None:
            return
        _, statement, parameters = largest
        options = "ANALYZE, BUFFERS" if analyze else "COSTS"
        print(f"\nthe largest chunk query, as count_chunk sends it, parameters {parameters}:\n    {statement.strip()}")
        for seqscan_off in (False, True):
            heading = "SET LOCAL enable_seqscan = off" if seqscan_off else "planner's choice"
            plan = await explain(conn, statement, parameters, options, seqscan_off)
            print(f"\nEXPLAIN ({options}) of that chunk, {heading}:\n{plan}")
    await print_prepared(engine, statement, parameters, options)
    async with engine.connect() as conn:
        for seqscan_off in (False, True):
            heading = "SET LOCAL enable_seqscan = off" if seqscan_off else "planner's choice"
            plan = await explain(
                conn, ONE_AGGREGATE.replace(":db", "%(db)s").replace(":res", "%(res)s"), params, "COSTS", seqscan_off
            )
            print(f"\nEXPLAIN of the one aggregate, {heading}:\n{plan}")


async def print_prepared(engine: AsyncEngine, statement: str, parameters: dict[str, Any], options: str) -> None:
    """The plan count_chunk's statement really runs with on the pool's connections.

    psycopg prepares a statement on its 6th execution on a connection; from then on the
    server may use a generic plan, which the EXPLAINs above (one-off, custom) do not show.
    """
    names = re.findall(r"%\((\w+)\)s", statement)
    arguments = ", ".join(str(int(parameters[name])) for name in names)
    shown = False
    print("\ncount_chunk's statement as prepared on the pool's connections (generic | custom plans so far):")
    async with contextlib.AsyncExitStack() as stack:
        idle = engine.pool.checkedin()  # type: ignore[attr-defined]
        conns = [await stack.enter_async_context(engine.connect()) for _ in range(idle)]
        for number, conn in enumerate(conns, start=1):
            prepared = (
                await conn.exec_driver_sql(
                    "SELECT name, generic_plans, custom_plans FROM pg_prepared_statements "
                    "WHERE statement LIKE %(m)s AND statement NOT LIKE 'EXPLAIN%%'",
                    {"m": f"%{CHUNK_MARK}%"},
                )
            ).all()
            if not prepared:
                print(f"  connection {number}: not prepared")
            for name, generic, custom in prepared:
                print(f"  connection {number}: {name}, {generic} generic | {custom} custom")
                if not shown:
                    rows = (await conn.exec_driver_sql(f"EXPLAIN ({options}) EXECUTE {name}({arguments})")).all()
                    plan = "\n".join(f"    {row[0]}" for row in rows)
                    print(f"\nEXPLAIN ({options}) EXECUTE {name}({arguments}), the largest chunk:\n{plan}\n")
                    shown = True


async def print_server(engine: AsyncEngine) -> None:
    async with read_transaction(engine) as conn:
        settings = (
            await conn.execute(
                text(
                    "SELECT name || '=' || current_setting(name) FROM pg_settings WHERE name IN "
                    "('shared_buffers', 'effective_cache_size', 'work_mem', 'random_page_cost', 'jit', "
                    "'max_parallel_workers_per_gather', 'autovacuum') ORDER BY name"
                )
            )
        ).scalars()
        sizes = (
            await conn.execute(
                text(
                    "SELECT relname || ' ' || pg_size_pretty(pg_relation_size(oid)) FROM pg_class "
                    "WHERE relname IN ('subscriptions', 'ix_subscriptions_count', 'uq_subscriptions_identity', "
                    "'pk_subscriptions', 'profiles') ORDER BY relname"
                )
            )
        ).scalars()
        visible = await conn.scalar(
            text(
                "SELECT round(100.0 * relallvisible / greatest(relpages, 1), 1) FROM pg_class "
                "WHERE relname = 'subscriptions'"
            )
        )
        version = await conn.scalar(text("SHOW server_version"))
    print(f"PostgreSQL {version}: {', '.join(settings)}")
    print(f"sizes: {', '.join(sizes)}; subscriptions pages all-visible: {visible} %")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=Path("build/bench/refresh.json"))
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chunk-size", type=int, default=Settings().count_chunk_size)
    parser.add_argument("--load", choices=["service", "copy"], default="service")
    parser.add_argument("--batch", type=int, default=copy_loader.DEFAULT_BATCH, help="profiles per COPY batch")
    parser.add_argument("--reuse", action="store_true", help="reuse a bench database holding N profiles")
    parser.add_argument("--naive-repeat", type=int, default=None, help="runs of the naive count (default --repeat)")
    parser.add_argument("--explain-analyze", action="store_true", help="EXPLAIN ANALYZE the largest chunk")
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=None,
        metavar="PCT",
        help="before each sample, wait (up to 30 s) until other processes use less than PCT %% of the CPUs",
    )
    args = parser.parse_args()
    global QUIET_BELOW
    QUIET_BELOW = args.quiet_below
    url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    settings = Settings(database_url=url, count_chunk_size=args.chunk_size, poll_interval=0.01)
    engine = create_engine(url)
    postgres = not is_sqlite(engine)
    if (args.load == "copy" or args.reuse) and not postgres:
        parser.error("--load copy and --reuse need a PostgreSQL --database-url")
    if postgres:
        copy_loader.ensure_database(url)
    await upgrade(engine)
    target = await copy_loader.find_target(engine, args.profiles) if args.reuse else None
    if target is not None:
        account_id, database_id, resource_id = target.account_id, target.database_id, target.resource_id
        load_line = f"load: reused bench database {database_id} ({args.profiles:,} profiles, loaded earlier)"
        log(load_line)
    elif args.load == "copy":
        target = await copy_loader.create_target(engine)
        report = await asyncio.to_thread(copy_loader.copy_load, url, target, args.profiles, batch=args.batch)
        copy_loader.print_report(report)
        account_id, database_id, resource_id = target.account_id, target.database_id, target.resource_id
        steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.seconds.items())
        load_line = (
            f"load (COPY, {args.batch:,} a batch)  {report.total:8.2f} s   "
            f"{args.profiles / report.total:10,.0f} profiles/s ({steps})"
        )
    else:
        account_id, database_id, resource_id, load_seconds = await load(engine, args.profiles)
        load_line = (
            f"load (profiles_add, 10,000 a batch)  {load_seconds:8.2f} s   "
            f"{args.profiles / load_seconds:10,.0f} profiles/s"
        )
    if postgres:
        await vacuum_until_visible(engine)
    if postgres and await copy_loader.other_rows(engine, database_id):
        log("warning: the tables also hold other databases' subscriptions; plans may differ from a single tenant")
    worker = Worker(engine, settings, REGISTRY)
    params = {"db": database_id, "res": resource_id}

    async def refresh_task(recount: bool = False) -> None:
        async with write_transaction(engine) as conn:
            await refresh_start(conn, account_id, database_id, resource_id, recount=recount)
        # Claim and run it, as a worker does; not run_once, whose maintenance round (five
        # passes, a write transaction each) is no part of a refresh's own time.
        task = await worker.claim()
        assert task is not None
        await worker.execute(task)

    async def recount_task() -> None:
        await refresh_task(recount=True)

    async def query(sql: str, *, seqscan_off: bool = False, serial: bool = False) -> list[Any]:
        async with read_transaction(engine) as conn:
            if seqscan_off:
                await conn.execute(text(SEQSCAN_OFF))
            if serial:
                await conn.execute(text(SERIAL))
            return [tuple(row) for row in (await conn.execute(text(sql), params)).all()]

    chunks: list[tuple[str, Any]] = []

    async def chunk_queries(setting: str | None = None) -> None:
        """The chunk queries of one refresh, as count_chunk sent them, without the task."""
        async with refresh_module.snapshot_transaction(engine) as conn:
            if setting:
                await conn.exec_driver_sql(setting)
            for statement, parameters in chunks:
                (await conn.exec_driver_sql(statement, parameters)).all()

    async def refresh_task_after(setting: str) -> None:
        with count_chunk_after(setting):
            await recount_task()

    measures: dict[str, list[float]] = {}

    async def measure(name: str, repeat: int, run: Callable[[], Awaitable[object]]) -> None:
        log(f"measuring: {name} (warm-up + {repeat})")
        measures[name] = await timed_samples(repeat, run)

    async def interleaved(runs: dict[str, Callable[[], Awaitable[object]]], repeat: int) -> None:
        """Warm each up, then take sample i of every measure before sample i + 1 of any.

        The machine may be shared: load from other processes then hits every measure alike
        instead of whichever happened to run during a burst. Every other pass runs in the
        reverse order, so that no measure always follows the same one.
        """
        for name, run in runs.items():
            log(f"warm-up: {name}")
            await run()
            measures[name] = []
        for number in range(1, repeat + 1):
            log(f"sample {number}/{repeat} of {len(runs)} measures")
            order = list(runs.items())
            for name, run in order if number % 2 else reversed(order):
                if QUIET_BELOW is not None and not await wait_until_quiet(QUIET_BELOW):
                    NOISY_SAMPLES[0] += 1
                started = time.perf_counter()
                await run()
                measures[name].append(time.perf_counter() - started)

    naive_repeat = args.repeat if args.naive_repeat is None else args.naive_repeat
    agrees = None
    if not postgres:
        await measure(REFRESH, args.repeat, refresh_task)
        await measure(RECOUNT, args.repeat, recount_task)
        await measure("one aggregate, covering index", args.repeat, lambda: query(ONE_AGGREGATE))
        if naive_repeat:
            await measure("naive count (window function)", naive_repeat, lambda: query(NAIVE_COUNT))
    else:
        # A refresh that finds the previous counts cuts its chunks as every later one will;
        # capture those chunks to replay them alone and to EXPLAIN them.
        await recount_task()
        with captured_chunk_queries(engine) as chunks:
            await recount_task()
        await interleaved(
            {
                REFRESH: refresh_task,
                RECOUNT: recount_task,
                "recount task, seqscan off per chunk": lambda: refresh_task_after(SEQSCAN_OFF),
                "recount task, custom plan per chunk": lambda: refresh_task_after(CUSTOM_PLANS),
                "one aggregate, covering index": lambda: query(ONE_AGGREGATE),
                "one aggregate, enable_seqscan=off": lambda: query(ONE_AGGREGATE, seqscan_off=True),
                "one aggregate, no parallel workers": lambda: query(ONE_AGGREGATE, serial=True),
                f"chunk queries alone ({len(chunks)}, no task)": chunk_queries,
                "chunk queries alone, custom plans": lambda: chunk_queries(CUSTOM_PLANS),
            },
            args.repeat,
        )
        if naive_repeat:
            await measure("naive count (window function)", naive_repeat, lambda: query(NAIVE_COUNT))
            agrees = sorted(await query(ONE_AGGREGATE)) == sorted(await query(NAIVE_COUNT))
    async with read_transaction(engine) as conn:
        rows = await conn.scalar(text("SELECT count(*) FROM subscriptions WHERE database_id = :db"), params)

    medians = {name: statistics.median(samples) for name, samples in measures.items()}
    recount, floor = medians[RECOUNT], medians["one aggregate, covering index"]
    naive = medians.get("naive count (window function)")

    if postgres:
        print()
        await print_server(engine)
    print(
        f"engine {engine.dialect.name}, {args.profiles:,} profiles, {rows:,} subscriptions, "
        f"chunk {args.chunk_size:,} profiles, median of {args.repeat}" + (", interleaved" if postgres else "")
    )
    print(load_line)
    print(f"{'measure':38} {'median':>10} {'vs one aggregate':>18}")
    for name, seconds in medians.items():
        print(f"{name:38} {seconds * 1000:8.1f} ms {seconds / floor:17.2f}x")
    if naive is not None:
        print(f"recount task is {naive / recount:.1f}x faster than the naive count")
    if postgres:
        off = medians["one aggregate, enable_seqscan=off"]
        recount_off = medians["recount task, seqscan off per chunk"]
        print(f"one aggregate: enable_seqscan=off is {floor / off:.2f}x the speed of the planner's choice")
        print(f"recount task: seqscan off per chunk is {recount / recount_off:.2f}x the speed of the planner's choice")
        custom = medians["recount task, custom plan per chunk"]
        print(f"recount task: custom plan per chunk is {recount / custom:.2f}x the speed of the planner's choice")
        print("samples (ms), in the order taken:")
        for name, samples in measures.items():
            print(f"  {name:38} " + " ".join(f"{s * 1000:.1f}" for s in samples))
        if agrees is not None:
            print(f"naive count agrees with the maintained flags: {'yes' if agrees else 'NO'}")
    if QUIET_BELOW is not None:
        print(f"samples taken without a quiet machine (< {QUIET_BELOW:g} % busy) after 30 s: {NOISY_SAMPLES[0]}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "backend": engine.dialect.name,
        "profiles": args.profiles,
        "subscriptions": rows,
        "chunk_size": args.chunk_size,
        "median_ms": {name: seconds * 1000 for name, seconds in medians.items()},
        "vs_one_aggregate": {name: seconds / floor for name, seconds in medians.items()},
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {args.json}")
    if postgres:
        await print_plans(engine, chunks, params, args.explain_analyze)
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
