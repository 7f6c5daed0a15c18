"""A real ``tally import`` process stopped mid-file (Ctrl-C, or killed), then resumed.

The process is signalled once its checkpoint shows a committed batch. Whatever stopped it,
the database then holds exactly the rows the checkpoint names; after ``--resume`` every row
is in exactly once, every bad row is in the rejects file exactly once, and a refresh counts
exactly what the reference model of tests/counters/ computes from the file.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.imports.run import Request, prepare, run
from tests.counters.model import STATUS_WORDS, Model, Profile, Sub, check_invariants, reference_channels
from tests.counters.support import refresh
from tests.helpers import Api, make_app
from tests.imports.support import checkpoint_row, make_target, profile_count, rejects_of, stored_profiles
from tests.processes import TALLY

ROWS = 6_000
BATCH = 500
#: Every BAD_EVERY-th row has a status no API takes: it must be rejected, once.
BAD_EVERY = 450
#: Per channel, the model's address index of a deliverable and of an undeliverable address.
MODEL_ADDRESS = {"email": (0, 2), "sms": (0, 2), "push": (0, 4)}


def people(seed: int) -> tuple[str, Model, list[int]]:
    """A CSV of ROWS people, the model of what its valid rows mean, and the bad rows' lines."""
    rng = random.Random(seed)
    model = Model()
    lines = ["email,phone,_status,email_status,sms_status,push_status,push_provider,push_subscription_id"]
    bad = []
    for number in range(ROWS):
        line = number + 2
        email_ok = rng.random() < 0.9
        email = f"user{number}@example.org" if email_ok else f"user{number}@example"
        global_status = rng.choice([None, None, *STATUS_WORDS])
        statuses = {"email": rng.choice(STATUS_WORDS)}
        cells = {"email": email, "_status": global_status or "", "email_status": statuses["email"]}
        deliverable = {"email": email_ok}
        if rng.random() < 0.4:
            statuses["sms"] = rng.choice(STATUS_WORDS)
            deliverable["sms"] = rng.random() < 0.8
            cells |= {"phone": f"+7900{number:07d}" if deliverable["sms"] else f"7900{number:07d}"}
            cells |= {"sms_status": statuses["sms"]}
        if rng.random() < 0.3:
            statuses["push"] = rng.choice(STATUS_WORDS)
            deliverable["push"] = rng.random() < 0.8
            cells |= {"push_status": statuses["push"], "push_subscription_id": f"tok{number}"}
            cells |= {"push_provider": "fcm" if deliverable["push"] else ""}
        if number % BAD_EVERY == 7:
            cells["email_status"] = "bogus"
            bad.append(line)
        else:
            profile = Profile(global_status)
            for channel, status in statuses.items():
                model.clock += 1
                index = MODEL_ADDRESS[channel][0 if deliverable[channel] else 1]
                profile.subs[("main", channel, index)] = Sub("main", channel, index, status, 0, model.clock)
            model.profiles.append(profile)
        header = lines[0].split(",")
        lines.append(",".join(cells.get(name, "") for name in header))
    return "\n".join(lines) + "\n", model, bad


async def _wait_for_a_batch(engine: AsyncEngine, database_id: int, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(3000):
        row = await checkpoint_row(engine, database_id)
        if row is not None and row.records >= BATCH:
            return
        if process.poll() is not None:
            output = await asyncio.to_thread(log.read_text)
            raise AssertionError(f"the import ended before a batch was committed:\n{output}")
        await asyncio.sleep(0.01)
    raise AssertionError("no batch committed within 30 s")


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
async def test_stopped_import_resumes_to_exact_rows_and_counts(
    engine: AsyncEngine, settings: Settings, database_url: str, tmp_path: Path, stop_signal: signal.Signals
) -> None:
    target = await make_target(engine)
    text, model, bad_lines = people(seed=8)
    path = tmp_path / "people.csv"
    path.write_text(text)
    command = [TALLY, "import", str(path), "--db", str(target.database_id), "--resource", str(target.resource_id)]
    command += ["--batch-size", str(BATCH), "--database-url", database_url]
    with (tmp_path / "first.log").open("wb") as log:
        # Popen returns at once; the waits below are in threads or asyncio.sleep.
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
        try:
            await _wait_for_a_batch(engine, target.database_id, process, tmp_path / "first.log")
            process.send_signal(stop_signal)
            returncode = await asyncio.to_thread(process.wait, 60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    output = (tmp_path / "first.log").read_text()
    if stop_signal == signal.SIGINT:
        assert returncode == 130, output
        assert "Interrupted: lines 1 to " in output and "--resume" in output
    else:
        assert returncode == -signal.SIGKILL
    # Stopped: exactly the rows the checkpoint names are in.
    stopped = await checkpoint_row(engine, target.database_id)
    assert stopped.finished_at is None and stopped.records < ROWS, "the import finished before it was stopped"
    assert stopped.records % BATCH == 0
    assert await profile_count(engine, target.database_id) == stopped.added
    assert stopped.added + stopped.rejected == stopped.records

    resumed = await asyncio.to_thread(
        subprocess.run, [*command, "--resume"], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 1, resumed.stderr  # the bad rows
    assert f"resumed at line {stopped.line + 1:,}" in resumed.stderr
    done = await checkpoint_row(engine, target.database_id)
    assert (done.records, done.added, done.updated, done.rejected) == (ROWS, len(model.profiles), 0, len(bad_lines))
    assert done.finished_at is not None
    rejects = rejects_of(tmp_path / "people.csv.rejects.jsonl")
    assert [entry["line"] for entry in rejects] == bad_lines
    # Every row exactly once: as many profiles as valid rows, all of their emails.
    assert await profile_count(engine, target.database_id) == len(model.profiles)
    stored = await stored_profiles(engine, target.database_id)
    expected = {f"user{n}@example.org" for n in range(ROWS)} | {f"user{n}@example" for n in range(ROWS)}
    assert len(stored) == len(model.profiles) and set(stored) <= expected

    async with make_app(settings) as client:
        api = Api(client, target.token, target.account_id)
        status = await refresh(api, target.database_id, target.resource_id)
    [element] = status["result"]
    assert element["total_count"] == len(model.profiles)
    assert element["channels"] == reference_channels(model, ["email", "push", "sms"])
    check_invariants(element["channels"], element["total_count"])


async def test_abandoned_batch_is_rolled_back_with_its_rejects(engine: AsyncEngine, tmp_path: Path) -> None:
    """A second Ctrl-C: the batch being written is rolled back, and its rejects cut off."""
    target = await make_target(engine)
    path = tmp_path / "people.jsonl"
    path.write_text('{"email": "ann@example.org"}\n{"email": 5}\n{"email": "bob@example.org"}\n')
    plan = await prepare(engine, Request(path=path, database_id=target.database_id, batch_size=2))
    abandon = asyncio.Event()
    abandon.set()
    outcome = await run(engine, plan, abandon=abandon)
    assert outcome.stopped == "abandoned"
    assert await profile_count(engine, target.database_id) == 0
    row = await checkpoint_row(engine, target.database_id)
    assert (row.records, row.byte_offset, row.rejects_bytes) == (0, 0, 0)
    assert (tmp_path / "people.jsonl.rejects.jsonl").read_bytes() == b""
    plan = await prepare(engine, Request(path=path, database_id=target.database_id, batch_size=2, resume=True))
    outcome = await run(engine, plan)
    assert outcome.stopped is None
    assert outcome.report.checkpoint.counts.added == 2
    assert [entry["line"] for entry in rejects_of(tmp_path / "people.jsonl.rejects.jsonl")] == [2]
