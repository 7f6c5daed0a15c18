"""Import benchmark: ``tally import`` of a CSV against the engine's bare floor, and import_batch.

Generates N rows (deterministic: email for all, sms for 40 %, push for 30 %) as a CSV in a
temporary directory, then measures, side by side in one run, on each backend asked for:

* ``bare executemany`` (SQLite) / ``bare COPY`` (PostgreSQL): the same rows, the CSV's
  cells as text, into one unindexed table, no validation (the engine's floor);
* ``SQL alone into Tally's tables``: the same rows staged (COPY / executemany of the cells)
  and written into profiles, profile_phones and subscriptions by INSERT ... SELECT, with no
  validation, matching or flag rule: what the engine itself needs for Tally's schema and
  indexes, the floor under any import into it;
* ``tally import``: the real command as a subprocess on a fresh database (validation,
  matching, profiles, phones and subscriptions with their flags, checkpoints), with its
  peak RSS (``ru_maxrss`` of the child);
* ``tally import, count triggers off``: the same on a fresh database whose triggers of
  the maintained counts (migration 0012) are dropped or disabled: their price (target:
  at most 20 % of the rate);
* ``profiles/add_batch``, with the count triggers and without (``--api-rows`` rows, 10,000
  a request, into a new database beside each import's): the triggers' price on the API;
* ``profiles/import_batch`` (PostgreSQL): the same rows as profile objects, 10,000 a
  request, posted one request at a time by one client to a real ``tally serve`` on
  127.0.0.1 (bodies encoded before the clock starts).

Targets: on SQLite the import within 3x of the floor's time; on PostgreSQL at least 40 % of
the bare COPY's rate; peak RSS under 200 MB; import_batch at least 10,000 profiles/s.
Prints a table and writes the measures as JSON (--json).

Usage: python bench/import.py [--rows N] [--backend sqlite|postgres|both]
           [--admin-url postgresql://postgres@127.0.0.1:5432/postgres] [--batch-size B]
           [--api-rows N] [--json PATH]

PostgreSQL runs on a fresh database made through --admin-url (or TALLY_BENCH_POSTGRES_URL)
and dropped at the end. e.g. python bench/import.py --rows 100000 for a quick run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import func, select

from tally.accounts.service import token_create
from tally.catalog.service import database_add, resource_add
from tally.store.engine import create_engine, read_transaction, write_transaction
from tally.store.migrate import upgrade
from tally.store.tables import profiles

TALLY = str(Path(sys.executable).with_name("tally"))
HEADER = [
    "email",
    "phone",
    "_fname",
    "email_status",
    "sms_status",
    "push_status",
    "push_provider",
    "push_subscription_id",
]
API_BATCH = 10_000
#: Runs the command in its arguments; prints the child's peak RSS in KiB on the last line.
PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)
TABLES_MEASURE = "SQL alone into Tally's tables"
UNTRIGGERED = "tally import, count triggers off"
ADD_BATCH, ADD_BATCH_UNTRIGGERED = "profiles/add_batch", "profiles/add_batch, count triggers off"
COUNT_TRIGGERS_SQLITE = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'subscription_counts_%'"
TARGETS = {"sqlite": "within 3x of the floor", "postgres": "at least 40 % of the floor's rate"}


@dataclass
class Measure:
    backend: str
    name: str
    rows: int
    seconds: float
    peak_rss_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def row(number: int) -> list[str]:
    sms, push = number % 5 < 2, number % 10 < 3
    return [
        f"user{number}@example.org",
        f"+7900{number:07d}" if sms else "",
        f"User {number}",
        "subscribed",
        "subscribed" if sms else "",
        "subscribed" if push else "",
        "android-firebase" if push else "",
        f"fcm:{number}" if push else "",
    ]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        writer.writerows(row(number) for number in range(rows))


def profile_item(cells: list[str], resource_id: int) -> dict[str, Any]:
    """One CSV row as the profile object import_batch takes."""
    email, phone, fname, _, sms, push, provider, subscription_id = cells
    item: dict[str, Any] = {"email": email, "_fname": fname}
    subscriptions = [{"resource_id": resource_id, "channel": "email", "email": email, "status": "subscribed"}]
    if phone:
        item["phones"] = [phone]
    if sms:
        subscriptions.append({"resource_id": resource_id, "channel": "sms", "phone": phone, "status": sms})
    if push:
        subscriptions.append(
            {
                "resource_id": resource_id,
                "channel": "push",
                "provider": provider,
                "subscription_id": subscription_id,
                "status": push,
            }
        )
    item["subscriptions"] = subscriptions
    return item


# --- floors ---------------------------------------------------------------------------------


def sqlite_connect(path: Path) -> sqlite3.Connection:
    """A connection set as tally's engine sets SQLite (WAL, synchronous NORMAL), autocommit."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def csv_batches(path: Path, batch: int) -> Iterator[list[list[str]]]:
    """The CSV's data rows, ``batch`` at a time."""
    with path.open(newline="") as file:
        rows = csv.reader(file)
        next(rows)
        while chunk := list(itertools.islice(rows, batch)):
            yield chunk


def bare_executemany(path: Path, directory: Path, batch: int) -> float:
    """The CSV's rows into one unindexed SQLite table, batch by batch, as tally's engine is set."""
    connection = sqlite_connect(directory / "bare.db")
    connection.execute(f"CREATE TABLE bare ({', '.join(f'c{n} TEXT' for n in range(len(HEADER)))})")
    statement = f"INSERT INTO bare VALUES ({', '.join('?' * len(HEADER))})"
    started = time.perf_counter()
    for chunk in csv_batches(path, batch):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(statement, chunk)
        connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


def bare_copy(url: str, path: Path) -> float:
    """The CSV file into one unindexed PostgreSQL table with one COPY."""
    with psycopg.connect(url) as connection:
        columns = ", ".join(f"c{n} text" for n in range(len(HEADER)))
        connection.execute(f"CREATE TABLE bare ({columns})")
        connection.commit()
        started = time.perf_counter()
        with (
            connection.cursor() as cursor,
            cursor.copy("COPY bare FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            path.open("rb") as file,
        ):
            while data := file.read(1 << 20):
                copy.write(data)
        connection.commit()
        seconds = time.perf_counter() - started
        connection.execute("DROP TABLE bare")
        connection.commit()
    return seconds


#: The rows of the CSV into Tally's own tables in SQL alone: what the engine needs for the
#: same profiles, phones and subscriptions with their indexes, with no validation, no
#: matching and no flag rule (every row new, every subscription effective and sendable).
#: {json}: json_build_object or json_object; {now}: the engine's current time as stored.
TABLES_SQL = [
    """INSERT INTO profiles (id, account_id, database_id, email, email_key, phones, fields, global_status,
           is_deleted, created_at, updated_at)
       SELECT {base} + seq, {account}, {database}, email, lower(email),
              CASE WHEN phone <> '' THEN {json_array}(phone) ELSE {empty_list} END, {json}('fname', fname), NULL,
              {false}, {now}, {now}
       FROM staged""",
    """INSERT INTO profile_phones (profile_id, phone, database_id)
       SELECT {base} + seq, phone, {database} FROM staged WHERE phone <> ''""",
    """INSERT INTO subscriptions (profile_id, database_id, resource_id, channel, address, address_key, status,
           priority, is_deleted, change_seq, is_deliverable, is_effective, is_sendable, updated_at)
       SELECT {base} + seq, {database}, {resource}, channel, address, address_key, 0, 0, {false}, channel + 1,
              {true}, {true}, {true}, {now}
       FROM (SELECT seq, 0 AS channel, {json}('email', email) AS address, email AS address_key FROM staged
             UNION ALL
             SELECT seq, 1, {json}('phone', phone), phone FROM staged WHERE sms_status <> ''
             UNION ALL
             SELECT seq, 2, {json}('provider', push_provider, 'subscription_id', push_subscription_id),
                    push_provider || ':' || push_subscription_id
             FROM staged WHERE push_status <> '') AS rows""",
]
STAGED_COLUMNS = "email, phone, fname, email_status, sms_status, push_status, push_provider, push_subscription_id"


def _tables_sql(target: Target, base: int, *, sqlite: bool) -> list[str]:
    words = {
        "json": "json_object" if sqlite else "json_build_object",
        "json_array": "json_array" if sqlite else "json_build_array",
        "empty_list": "'[]'" if sqlite else "'[]'::json",
        "now": "strftime('%Y-%m-%d %H:%M:%f000', 'now')" if sqlite else "now()",
        "false": "0" if sqlite else "false",
        "true": "1" if sqlite else "true",
        "base": str(base),
        "account": str(target.account_id),
        "database": str(target.database_id),
        "resource": str(target.resource_id),
    }
    return [statement.format(**words) for statement in TABLES_SQL]


def tables_sqlite(path: Path, db_path: Path, target: Target, batch: int) -> float:
    """The CSV's cells by executemany into a staging table, then into Tally's tables in SQL."""
    connection = sqlite_connect(db_path)
    connection.execute(f"CREATE TEMP TABLE staged (seq INTEGER PRIMARY KEY, {STAGED_COLUMNS})")
    statement = f"INSERT INTO staged ({STAGED_COLUMNS}) VALUES ({', '.join('?' * len(HEADER))})"
    base = connection.execute("SELECT coalesce(max(id), 0) FROM profiles").fetchone()[0]
    started = time.perf_counter()
    for chunk in csv_batches(path, batch):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(statement, chunk)
        for sql in _tables_sql(target, base, sqlite=True):
            connection.execute(sql)
        base += len(chunk)
        connection.execute("DELETE FROM staged")
        connection.execute("COMMIT")
    seconds = time.perf_counter() - started
    connection.close()
    return seconds


def tables_postgres(url: str, path: Path, target: Target) -> float:
    """The CSV file by one COPY into a staging table, then into Tally's tables in SQL."""
    with psycopg.connect(url) as connection:
        base = connection.execute("SELECT coalesce(max(id), 0) + 1000000000 FROM profiles").fetchone()
        assert base is not None
        columns = ", ".join(f"{name} text" for name in STAGED_COLUMNS.split(", "))
        started = time.perf_counter()
        connection.execute(f"CREATE TEMP TABLE staged ({columns})")
        with (
            connection.cursor() as cursor,
            cursor.copy(f"COPY staged ({STAGED_COLUMNS}) FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            path.open("rb") as file,
        ):
            while data := file.read(1 << 20):
                copy.write(data)
        connection.execute("ALTER TABLE staged ADD COLUMN seq bigserial")
        for sql in _tables_sql(target, base[0], sqlite=False):
            connection.execute(sql)
        connection.commit()
        return time.perf_counter() - started


# --- tally ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    account_id: int
    database_id: int
    resource_id: int
    token: str


async def make_target(url: str) -> Target:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        created = await token_create(engine, f"bench-import-{uuid.uuid4().hex[:6]}")
        async with write_transaction(engine) as conn:
            database_id = await database_add(conn, created.account_id, "Imported", "")
            resource_id = await resource_add(conn, created.account_id, "News", ["email", "sms", "push"], [database_id])
    finally:
        await engine.dispose()
    return Target(created.account_id, database_id, resource_id, created.token)


async def count_profiles(url: str, database_id: int) -> int:
    engine = create_engine(url)
    try:
        async with read_transaction(engine) as conn:
            statement = select(func.count()).select_from(profiles).where(profiles.c.database_id == database_id)
            return int(await conn.scalar(statement) or 0)
    finally:
        await engine.dispose()


def tally_import(url: str, path: Path, target: Target, batch: int) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of ``tally import`` as a subprocess."""
    command = [TALLY, "import", str(path), "--db", str(target.database_id), "--resource", str(target.resource_id)]
    command += ["--batch-size", str(batch), "--database-url", url]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *command], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"tally import failed ({done.returncode}):\n{done.stderr[-3000:]}")
    log(done.stderr.strip().splitlines()[-1])
    return seconds, int(done.stdout.strip().splitlines()[-1]) / 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def api_batches(url: str, path: Path, rows: int, target: Target, method: str = "profiles/import_batch") -> float:
    """Seconds for ``rows`` profiles through ``method`` (profiles/import_batch, matching by
    email, or profiles/add_batch), 10,000 a request, one client."""
    with path.open(newline="") as file:
        reader = csv.reader(file)
        next(reader)
        cells = list(itertools.islice(reader, rows))
    items = [profile_item(row_cells, target.resource_id) for row_cells in cells]
    matching = {"matching": "email"} if method == "profiles/import_batch" else {}
    bodies = [
        json.dumps({"token": target.token, "db_id": target.database_id, **matching, "data": chunk}).encode()
        for chunk in (items[start : start + API_BATCH] for start in range(0, len(items), API_BATCH))
    ]
    port = free_port()
    server = subprocess.Popen(
        [TALLY, "serve", "--no-worker", "--host", "127.0.0.1", "--port", str(port), "--database-url", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TALLY_MAX_BODY_BYTES": str(64 << 20)},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=300) as client:
            for _ in range(200):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            headers = {"Content-Type": "application/json"}
            started = time.perf_counter()
            for body in bodies:
                response = client.post(f"/api/v1.1/{method}", content=body, headers=headers)
                envelope = response.json()
                if envelope["error"] != 0 or any(item["error"] for item in envelope["data"]):
                    raise SystemExit(f"{method} failed: {str(envelope)[:500]}")
            return time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


# --- runs -----------------------------------------------------------------------------------


async def run_sqlite(path: Path, directory: Path, rows: int, batch: int, api_rows: int) -> list[Measure]:
    log("sqlite: bare executemany")
    floor = Measure("sqlite", "bare executemany (floor)", rows, bare_executemany(path, directory, batch))
    log("sqlite: SQL alone into Tally's tables")
    tables_db = directory / "tables.db"
    tables_target = await make_target(f"sqlite:///{tables_db}")
    tables = Measure("sqlite", TABLES_MEASURE, rows, tables_sqlite(path, tables_db, tables_target, batch))
    url = f"sqlite:///{directory / 'tally.db'}"
    target = await make_target(url)
    log("sqlite: tally import")
    seconds, rss = tally_import(url, path, target, batch)
    assert await count_profiles(url, target.database_id) == rows
    measures = [floor, tables, Measure("sqlite", "tally import", rows, seconds, rss)]
    log("sqlite: tally import, count triggers off")
    bare_url = f"sqlite:///{directory / 'untriggered.db'}"
    bare_target = await make_target(bare_url)
    drop_count_triggers(bare_url)
    seconds, rss = tally_import(bare_url, path, bare_target, batch)
    measures.append(Measure("sqlite", UNTRIGGERED, rows, seconds, rss))
    if api_rows:
        measures += await add_batch_price("sqlite", url, bare_url, path, api_rows)
    return measures


async def add_batch_price(backend: str, url: str, untriggered_url: str, path: Path, rows: int) -> list[Measure]:
    """profiles/add_batch of ``rows`` profiles into a new database beside the import's, with
    the count triggers and without them (both databases hold the import's rows)."""
    measures = []
    for name, database_url in ((ADD_BATCH, url), (ADD_BATCH_UNTRIGGERED, untriggered_url)):
        log(f"{backend}: {name}, {rows:,} profiles")
        target = await make_target(database_url)
        seconds = api_batches(database_url, path, rows, target, "profiles/add_batch")
        assert await count_profiles(database_url, target.database_id) == rows
        measures.append(Measure(backend, name, rows, seconds))
    return measures


def drop_count_triggers(url: str) -> None:
    """The maintained counts' triggers (migration 0012) gone, to measure what they cost."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        names = [row[0] for row in connection.execute(COUNT_TRIGGERS_SQLITE)]
        for name in names:
            connection.execute(f"DROP TRIGGER {name}")
        connection.commit()
        connection.close()
    else:
        with psycopg.connect(url) as connection:
            connection.execute("ALTER TABLE subscriptions DISABLE TRIGGER USER")


async def run_postgres(admin_url: str, path: Path, rows: int, batch: int, api_rows: int) -> list[Measure]:
    # Fresh databases: the SQL-alone rows, and the import without the count triggers, must
    # not enlarge the indexes the import writes to.
    names = [f"tally_bench_import_{uuid.uuid4().hex[:6]}" for _ in range(3)]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    url, tables_url, bare_url = (admin_url.rpartition("/")[0] + f"/{name}" for name in names)
    try:
        log("postgres: bare COPY")
        floor = Measure("postgres", "bare COPY (floor)", rows, bare_copy(url, path))
        log("postgres: SQL alone into Tally's tables")
        tables_target = await make_target(tables_url)
        tables = Measure("postgres", TABLES_MEASURE, rows, tables_postgres(tables_url, path, tables_target))
        target = await make_target(url)
        log("postgres: tally import")
        seconds, rss = tally_import(url, path, target, batch)
        assert await count_profiles(url, target.database_id) == rows
        measures = [floor, tables, Measure("postgres", "tally import", rows, seconds, rss)]
        log("postgres: tally import, count triggers off")
        bare_target = await make_target(bare_url)
        drop_count_triggers(bare_url)
        seconds, rss = tally_import(bare_url, path, bare_target, batch)
        measures.append(Measure("postgres", UNTRIGGERED, rows, seconds, rss))
        if api_rows:
            measures += await add_batch_price("postgres", url, bare_url, path, api_rows)
            api_target = await make_target(url)
            log(f"postgres: profiles/import_batch, {api_rows:,} profiles")
            seconds = api_batches(url, path, api_rows, api_target)
            assert await count_profiles(url, api_target.database_id) == api_rows
            measures.append(Measure("postgres", f"profiles/import_batch ({API_BATCH:,}/request)", api_rows, seconds))
        return measures
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def verdicts(measures: list[Measure]) -> list[str]:
    found = {(m.backend, m.name.split(" (")[0]): m for m in measures}
    lines = []
    for backend, floor_name in (("sqlite", "bare executemany"), ("postgres", "bare COPY")):
        floor, imported = found.get((backend, floor_name)), found.get((backend, "tally import"))
        if floor is None or imported is None:
            continue
        if backend == "sqlite":
            ratio = imported.seconds / floor.seconds
            met = ratio <= 3
            lines.append(f"sqlite: tally import takes {ratio:.1f}x the floor's time (target {TARGETS[backend]}): ")
        else:
            share = imported.rate / floor.rate
            met = share >= 0.4
            lines.append(f"postgres: tally import runs at {share:.1%} of COPY's rate (target {TARGETS[backend]}): ")
        lines[-1] += "met" if met else "NOT met"
        tables = found.get((backend, TABLES_MEASURE))
        if tables is not None:
            lines.append(
                f"{backend}: SQL alone into Tally's tables runs at {tables.rate / floor.rate:.1%} of the floor's rate; "
                f"tally import takes {imported.seconds / tables.seconds:.1f}x its time"
            )
        if imported.peak_rss_mb is not None:
            lines.append(
                f"{backend}: peak RSS of tally import {imported.peak_rss_mb:.0f} MB (target < 200 MB): "
                + ("met" if imported.peak_rss_mb < 200 else "NOT met")
            )
    for backend in ("sqlite", "postgres"):
        for label, with_triggers, without in (
            ("tally import", "tally import", UNTRIGGERED),
            ("profiles/add_batch", ADD_BATCH, ADD_BATCH_UNTRIGGERED),
        ):
            triggered, untriggered = found.get((backend, with_triggers)), found.get((backend, without))
            if triggered is not None and untriggered is not None:
                price = 1 - triggered.rate / untriggered.rate
                lines.append(
                    f"{backend}: the count triggers cost {price:.1%} of {label}'s rate (target at most 20 %): "
                    + ("met" if price <= 0.2 else "NOT met")
                )
    api = next((m for m in measures if m.name.startswith("profiles/import_batch")), None)
    if api is not None:
        lines.append(
            f"postgres: import_batch {api.rate:,.0f} profiles/s (target >= 10,000): "
            + ("met" if api.rate >= 10_000 else "NOT met")
        )
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default=None)
    parser.add_argument("--admin-url", default=os.environ.get("TALLY_BENCH_POSTGRES_URL"))
    parser.add_argument("--batch-size", type=int, default=5_000)
    parser.add_argument("--api-rows", type=int, default=100_000, help="profiles through the batch methods (0: none)")
    parser.add_argument("--json", type=Path, default=Path("build/bench/import.json"))
    args = parser.parse_args()
    backend = args.backend or ("both" if args.admin_url else "sqlite")
    if backend != "sqlite" and not args.admin_url:
        parser.error("PostgreSQL needs --admin-url or TALLY_BENCH_POSTGRES_URL")
    with tempfile.TemporaryDirectory(prefix="tally-bench-import-") as name:
        directory = Path(name)
        path = directory / "people.csv"
        log(f"writing {args.rows:,} rows to {path}")
        write_csv(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        measures: list[Measure] = []
        if backend in ("sqlite", "both"):
            measures += await run_sqlite(path, directory, args.rows, args.batch_size, min(args.api_rows, args.rows))
        if backend in ("postgres", "both"):
            api_rows = min(args.api_rows, args.rows)
            measures += await run_postgres(args.admin_url, path, args.rows, args.batch_size, api_rows)
    print(
        f"{args.rows:,} rows (email 100 %, sms 40 %, push 30 %), CSV {size_mb:.1f} MB, "
        f"batch {args.batch_size:,}, {os.cpu_count()} CPUs"
    )
    print(f"{'backend':9} {'measure':36} {'seconds':>9} {'rows/s':>11} {'vs floor':>9} {'peak RSS':>9}")
    floors = {m.backend: m for m in measures if "floor" in m.name}
    for measure in measures:
        floor = floors[measure.backend]
        rss = f"{measure.peak_rss_mb:6.0f} MB" if measure.peak_rss_mb is not None else ""
        print(
            f"{measure.backend:9} {measure.name:36} {measure.seconds:9.2f} {measure.rate:11,.0f} "
            f"{measure.rate / floor.rate:8.3f}x {rss:>9}"
        )
    results = verdicts(measures)
    for line in results:
        print(line)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "rows": args.rows,
        "csv_mb": round(size_mb, 1),
        "batch_size": args.batch_size,
        "measures": [asdict(m) | {"rows_per_s": round(m.rate)} for m in measures],
        "verdicts": results,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written: {args.json}")


if __name__ == "__main__":
    asyncio.run(main())
