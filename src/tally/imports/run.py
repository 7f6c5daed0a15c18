"""The import pipeline: read and validate a batch, write it with its checkpoint, and again.

``prepare`` checks everything that would make the whole import fail (the database, the
resource and its channels, a CSV header, the checkpoint to resume) before a row is written:
what it refuses is a usage error. ``run`` then writes batches of ``batch_size`` records,
each in one write transaction together with its checkpoint and after its rejects are on
disk, so that a stopped or killed import leaves the database consistent and the checkpoint
naming exactly the rows that are in.

Reading and validating run in the event loop's thread, between writes. Measured on 50,000
rows, a thread that read the next batch while one was written was no faster on either
backend (validation and the write path are both Python work holding the GIL); a process
would pay more to unpickle the validated profiles (5 s per 50,000) than validating costs.

Stopping: ``stop`` ends the import after the batch being written commits; ``abandon``
rolls that batch back at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.errors import TallyError
from tally.gc_tuning import fewer_collections
from tally.imports.checkpoints import (
    Checkpoint,
    Counts,
    advanced,
    checkpoint_begin,
    checkpoint_find,
    checkpoint_move,
    checkpoints_unfinished,
    fingerprint,
)
from tally.imports.csv_file import read_csv, read_layout
from tally.imports.formats import FileProblem, Format, Nested, Position, Record, detect_format, position_after
from tally.imports.json_file import read_json_array, read_json_lines
from tally.imports.queries import database_account
from tally.imports.rejects import Rejects
from tally.imports.validate import validated
from tally.profiles.input import ImportInput, Matching
from tally.profiles.service import linked_resources
from tally.profiles.upsert import profiles_import
from tally.store.engine import read_transaction, write_transaction
from tally.store.types import utcnow

DEFAULT_BATCH = 5_000
REJECTS_SUFFIX = ".rejects.jsonl"


class Refused(Exception):
    """The import cannot start as asked (a usage error: nothing was written)."""


@dataclass(frozen=True)
class Request:
    """What the operator asked for."""

    path: Path
    database_id: int
    matching: Matching = "email"
    format: Format | None = None
    resource_id: int | None = None
    rejects: Path | None = None
    resume: bool = False
    batch_size: int = DEFAULT_BATCH
    nested: Nested = "reject"


@dataclass(frozen=True)
class Plan:
    """A checked request: where to write, from which position, with which checkpoint."""

    path: Path
    format: Format
    account_id: int
    database_id: int
    resource_id: int | None
    matching: Matching
    batch_size: int
    nested: Nested
    rejects: Path
    size: int
    checkpoint: Checkpoint
    resumed: bool
    #: An unfinished checkpoint of the same file that this fresh run replaces.
    replaced: Checkpoint | None = None


@dataclass(frozen=True)
class Report:
    """Where an import stands: the file's totals so far, and this run's pace."""

    checkpoint: Checkpoint
    size: int
    records_this_run: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.records_this_run / self.seconds if self.seconds > 0 else 0.0


Stopped = Literal["interrupted", "abandoned", "superseded", "failed"]


@dataclass(frozen=True)
class Outcome:
    report: Report
    #: None when the file was read to its end.
    stopped: Stopped | None
    #: Why it failed: the database's error (a lost connection, a lock that never cleared).
    error: str = ""


async def prepare(engine: AsyncEngine, request: Request) -> Plan:
    path = request.path
    try:
        fmt = request.format or detect_format(path)
        channels = read_layout(path).channel_names if fmt == "csv" else []
    except (FileProblem, UnicodeDecodeError) as exc:
        raise Refused(str(exc)) from None
    _check_resource_option(request, fmt, channels)
    rejects = (request.rejects or path.with_name(path.name + REJECTS_SUFFIX)).resolve()
    if rejects == path.resolve():
        raise Refused("--rejects must not be the file being imported")
    if not rejects.parent.is_dir():
        raise Refused(f"--rejects: directory {rejects.parent} does not exist")
    file_fingerprint = fingerprint(path)
    async with read_transaction(engine) as conn:
        account_id = await database_account(conn, request.database_id)
        if account_id is None:
            raise Refused(f"--db {request.database_id}: no such database")
        if request.resource_id is not None:
            linked = await linked_resources(conn, account_id, request.database_id)
            resource = linked.linked.get(request.resource_id)
            if resource is None:
                where = "linked to" if request.resource_id in linked.of_account else "a resource of the account of"
                raise Refused(f"--resource {request.resource_id} is not {where} database {request.database_id}")
            missing = [channel for channel in channels if channel not in resource.channels]
            if missing:
                raise Refused(
                    f"resource {resource.id} has no channel {', '.join(missing)} (it has "
                    f"{', '.join(resource.channels)}): drop the column {', '.join(f'{c}_status' for c in missing)} "
                    "or add the channel to the resource"
                )
        existing = await checkpoint_find(conn, request.database_id, file_fingerprint)
        others = await checkpoints_unfinished(conn, request.database_id) if request.resume else []
    options = {
        "format": fmt,
        "matching": request.matching,
        "resource_id": request.resource_id,
        "nested": request.nested,
        "rejects": str(rejects),
    }
    now = utcnow()
    if request.resume:
        checkpoint = _resumable(request, existing, others, options)
        rejects = Path(checkpoint.options["rejects"])
        checkpoint = replace(checkpoint, run_id=str(uuid.uuid4()), file_name=str(path), updated_at=now)
        replaced = None
    else:
        checkpoint = Checkpoint(
            database_id=request.database_id,
            fingerprint=file_fingerprint,
            file_name=str(path),
            options=options,
            run_id=str(uuid.uuid4()),
            position=Position(),
            counts=Counts(),
            rejects_bytes=0,
            started_at=now,
            updated_at=now,
            finished_at=None,
        )
        replaced = existing if existing is not None and existing.finished_at is None else None
    return Plan(
        path=path,
        format=fmt,
        account_id=account_id,
        database_id=request.database_id,
        resource_id=request.resource_id,
        matching=request.matching,
        batch_size=request.batch_size,
        nested=request.nested,
        rejects=rejects,
        size=int(file_fingerprint.split(":")[0]),
        checkpoint=checkpoint,
        resumed=request.resume,
        replaced=replaced,
    )


def _check_resource_option(request: Request, fmt: Format, channels: list[str]) -> None:
    columns = ", ".join(f"{channel}_status" for channel in channels)
    if channels and request.resource_id is None:
        raise Refused(f"the columns {columns} subscribe profiles to a resource: give --resource")
    if request.resource_id is not None and not channels:
        if fmt != "csv":
            raise Refused("--resource is for the status columns of a CSV file; JSON records name their resources")
        raise Refused("--resource was given, but the file has no <channel>_status column")


def _resumable(
    request: Request, existing: Checkpoint | None, others: list[Checkpoint], options: Mapping[str, object]
) -> Checkpoint:
    database = request.database_id
    if existing is None:
        if not others:
            raise Refused(f"no interrupted import into database {database} to resume")
        listed = "; ".join(f"{other.file_name} at line {other.position.line + 1:,}" for other in others[:5])
        raise Refused(
            f"{request.path} is not the file of any interrupted import into database {database} "
            f"(its size or its first MiB differ); interrupted: {listed}"
        )
    if existing.finished_at is not None:
        raise Refused(
            f"the import of this file into database {database} already finished "
            f"({existing.finished_at:%Y-%m-%d %H:%M:%S} UTC); run it without --resume to import it again"
        )
    if request.rejects is None:
        options = {**options, "rejects": existing.options.get("rejects")}
    different = [
        f"--{name.replace('_id', '').replace('_', '-')} {existing.options.get(name)} (now {value})"
        for name, value in options.items()
        if existing.options.get(name) != value
    ]
    if different:
        raise Refused(f"resume with the options of the interrupted run: {', '.join(different)}")
    return existing


class _Batches:
    """The file's records from a position, validated, a batch at a time."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._records = _records(plan)

    def next(self) -> list[tuple[Record, ImportInput | TallyError]]:
        batch = []
        for record in itertools.islice(self._records, self._plan.batch_size):
            batch.append((record, validated(record, self._plan.matching, self._plan.format)))
            if record.fatal:
                self._records = iter(())
                break
        return batch


def _records(plan: Plan) -> Iterator[Record]:
    start = plan.checkpoint.position
    if plan.format == "csv":
        return read_csv(plan.path, start, plan.resource_id)
    if plan.format == "jsonl":
        return read_json_lines(plan.path, start, plan.nested)
    return read_json_array(plan.path, start, plan.nested)


class Superseded(Exception):
    """Another run of the same import has taken the checkpoint over."""


async def run(
    engine: AsyncEngine,
    plan: Plan,
    *,
    stop: asyncio.Event | None = None,
    abandon: asyncio.Event | None = None,
    on_batch: Callable[[Report], None] | None = None,
) -> Outcome:
    with fewer_collections():
        return await _run(engine, plan, stop or asyncio.Event(), abandon or asyncio.Event(), on_batch)


async def _run(
    engine: AsyncEngine,
    plan: Plan,
    stop: asyncio.Event,
    abandon: asyncio.Event,
    on_batch: Callable[[Report], None] | None,
) -> Outcome:
    started = time.perf_counter()
    checkpoint = plan.checkpoint
    first = checkpoint.position.records

    def report(at: Checkpoint) -> Report:
        return Report(at, plan.size, at.position.records - first, time.perf_counter() - started)

    async with write_transaction(engine) as conn:
        await checkpoint_begin(conn, checkpoint, resumed=plan.resumed)
    batches = _Batches(plan)
    with Rejects(plan.rejects, checkpoint.rejects_bytes, os.open(plan.path, os.O_RDONLY)) as rejects:
        try:
            while batch := batches.next():
                writing = asyncio.ensure_future(_write(engine, plan, checkpoint, batch, rejects))
                abandoned = asyncio.ensure_future(abandon.wait())
                await asyncio.wait({writing, abandoned}, return_when=asyncio.FIRST_COMPLETED)
                abandoned.cancel()
                if not writing.done():
                    writing.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await writing
                    return Outcome(report(checkpoint), "abandoned")
                checkpoint = writing.result()
                if on_batch is not None:
                    on_batch(report(checkpoint))
                if stop.is_set():
                    return Outcome(report(checkpoint), "interrupted")
            finished = replace(checkpoint, finished_at=utcnow(), updated_at=utcnow())
            async with write_transaction(engine) as conn:
                if not await checkpoint_move(conn, finished):
                    raise Superseded
            rejects.finish(finished.counts.rejected)
            return Outcome(report(finished), None)
        except Superseded:
            return Outcome(report(checkpoint), "superseded")
        except TallyError as exc:  # the database was deleted meanwhile
            return Outcome(report(checkpoint), "failed", exc.text)
        except DBAPIError as exc:
            # The batch was rolled back; what is in is what the checkpoint says.
            lines = str(exc.orig).strip().splitlines()
            return Outcome(report(checkpoint), "failed", lines[0] if lines else type(exc.orig).__name__)


async def _write(
    engine: AsyncEngine,
    plan: Plan,
    checkpoint: Checkpoint,
    batch: list[tuple[Record, ImportInput | TallyError]],
    rejects: Rejects,
) -> Checkpoint:
    """One batch and its checkpoint in one transaction; its rejects are on disk before the commit."""
    mark = rejects.size
    try:
        async with write_transaction(engine) as conn:
            outcomes = await profiles_import(
                conn, plan.account_id, plan.database_id, plan.matching, [item for _, item in batch]
            )
            added = updated = rejected = 0
            for (record, _), outcome in zip(batch, outcomes, strict=True):
                if isinstance(outcome, TallyError):
                    rejected += 1
                    rejects.add(record, outcome)
                elif outcome.created:
                    added += 1
                else:
                    updated += 1
            rejects.flush()
            moved = advanced(checkpoint, position_after(batch[-1][0]), Counts(added, updated, rejected), rejects.size)
            if not await checkpoint_move(conn, moved):
                raise Superseded
    except BaseException:
        rejects.cut(mark)  # the batch is not in: nor are its rejects
        raise
    return moved
