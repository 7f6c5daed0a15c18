"""``tally import`` on each format: what goes in, what is rejected (by line), exit codes."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.cli.main import cli
from tally.imports.checkpoints import checkpoint_begin
from tally.imports.run import Report, Request, prepare, run
from tally.store.engine import create_engine, write_transaction
from tally.store.tables import databases
from tests.imports.support import (
    CSV_HEADER,
    checkpoint_row,
    make_target,
    profile_count,
    rejects_of,
    stored_profiles,
    tally_import,
)


async def test_csv_rows_go_in_and_bad_ones_are_rejected_by_line(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    target = await make_target(engine)
    path = tmp_path / "people.csv"
    path.write_text(
        f"{CSV_HEADER},city\n"
        "ann@example.org,+79001234567,Ann,,subscribed,unconfirmed,,,,Riga\n"
        "bob@example.org,,Bob,unsubscribed,hardbounced,,subscribed,fcm,tok-1,\n"
        ",+79001234500,Nobody,,subscribed,,,,,\n"  # no key
        'carl@example.org,,"Carl\nMulti",,bogus,,,,,\n'  # a bad status, on a row of two lines
        "dora@example.org,,Dora,,,,,,,\n"
        "eve@example.org,too,few\n"
    )
    result = await tally_import(database_url, path, "--db", target.database_id, "--resource", target.resource_id)
    assert result.exit_code == 1, result.output
    assert "3 added, 0 updated, 3 rejected" in result.stderr
    rejects = rejects_of(tmp_path / "people.csv.rejects.jsonl")
    assert [(entry["line"], entry["index"], entry["code"]) for entry in rejects] == [
        (4, 2, 400),
        (5, 3, 400),
        (8, 5, 400),
    ]
    assert rejects[0]["error"] == "Missing parameter: email (--matching email needs an email in every row)"
    assert rejects[1]["error"].startswith("Invalid parameter: email_status must be one of subscribed")
    assert rejects[1]["text"] == 'carl@example.org,,"Carl\nMulti",,bogus,,,,,'
    assert rejects[2]["error"] == "Malformed CSV: the row has 3 cells, the header 10"
    stored = await stored_profiles(engine, target.database_id)
    assert sorted(stored) == ["ann@example.org", "bob@example.org", "dora@example.org"]
    assert stored["ann@example.org"]["fields"] == {"_fname": "Ann", "city": "Riga"}
    assert stored["ann@example.org"]["subscriptions"] == [
        {"channel": "email", "status": 0, "email": "ann@example.org"},
        {"channel": "sms", "status": 4, "phone": "+79001234567"},
    ]
    assert stored["bob@example.org"]["global_status"] == 1
    assert stored["bob@example.org"]["subscriptions"] == [
        {"channel": "email", "status": 3, "email": "bob@example.org"},
        {"channel": "push", "status": 0, "provider": "fcm", "subscription_id": "tok-1"},
    ]
    assert stored["dora@example.org"]["subscriptions"] == []
    checkpoint = await checkpoint_row(engine, target.database_id)
    assert (checkpoint.records, checkpoint.added, checkpoint.rejected) == (6, 3, 3)
    assert checkpoint.finished_at is not None


async def test_json_lines_bad_lines_are_rejected_and_the_rest_goes_in(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    target = await make_target(engine)
    path = tmp_path / "people.ndjson"
    subscription = {"resource_id": target.resource_id, "channel": "email", "email": "ann@example.org"}
    lines = [
        {"email": "ann@example.org", "phones": ["+79001234567"], "_fname": "Ann", "subscriptions": [subscription]},
        {"email": "bob@example.org", "age": 41},
        "{not json",
        {"email": "carl@example.org", "subscriptions": [{**subscription, "resource_id": 999999}]},
        {"email": "dora@example.org", "phones": "+79001234567"},
        {"email": "eve@example.org", "_status": "subscribed"},
    ]
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n\n")
    rejects = tmp_path / "out" / "bad.jsonl"
    rejects.parent.mkdir()
    result = await tally_import(database_url, path, "--db", target.database_id, "--rejects", rejects)
    assert result.exit_code == 1, result.output
    found = rejects_of(rejects)
    assert [(entry["line"], entry["code"]) for entry in found] == [(3, 400), (4, 404), (5, 400)]
    assert found[0]["error"].startswith("Malformed JSON: ")
    assert found[1]["error"] == "Resource not found: 999999"
    assert found[2]["error"].startswith("Invalid parameter: data.phones")
    assert found[2]["text"] == json.dumps(lines[4])
    stored = await stored_profiles(engine, target.database_id)
    assert sorted(stored) == ["ann@example.org", "bob@example.org", "eve@example.org"]
    assert stored["bob@example.org"]["fields"] == {"age": 41}


def _export(items: list[object]) -> str:
    """As PostgreSQL's json_agg writes rows: one item per line."""
    return "[" + ", \n ".join(json.dumps(item) for item in items) + "]"


@pytest.mark.parametrize("nested", ["reject", "json"])
async def test_json_array_export_with_list_fields(
    engine: AsyncEngine, database_url: str, tmp_path: Path, nested: str
) -> None:
    target = await make_target(engine)
    path = tmp_path / "export.json"
    items: list[object] = [
        {"email": "ann@example.org", "phones": ["+79001234567", "+79001234568"], "score": 4.5, "born": "1990-01-02"},
        {"email": "bob@example.org", "phones": [], "tags": ["vip", "new"], "score": None},
        {"email": "carl@example.org", "prefs": {"lang": "lv"}},
        7,
        {"email": "dora@example.org", "phones": ["+79001234569"]},
    ]
    path.write_text(_export(items))
    result = await tally_import(database_url, path, "--db", target.database_id, "--nested", nested)
    stored = await stored_profiles(engine, target.database_id)
    found = rejects_of(tmp_path / "export.json.rejects.jsonl")
    if nested == "reject":
        assert result.exit_code == 1, result.output
        assert [(entry["line"], entry["index"]) for entry in found] == [(2, 1), (3, 2), (4, 3)]
        assert found[0]["error"] == (
            "Invalid parameter: data.tags must be a string, a number, a boolean or null, got ['vip', 'new']"
        )
        assert found[2]["error"] == "Invalid parameter: data must be an object of profile fields, got 7"
        assert sorted(stored) == ["ann@example.org", "dora@example.org"]
    else:
        assert result.exit_code == 1, result.output
        assert [(entry["line"], entry["index"]) for entry in found] == [(4, 3)]
        assert stored["bob@example.org"]["fields"] == {"tags": '["vip","new"]', "score": None}
        assert stored["carl@example.org"]["fields"] == {"prefs": '{"lang":"lv"}'}
    assert stored["ann@example.org"]["fields"] == {"score": 4.5, "born": "1990-01-02"}
    assert stored["ann@example.org"]["phones"] == ["+79001234567", "+79001234568"]


async def test_all_in_is_exit_0_and_again_updates_them(engine: AsyncEngine, database_url: str, tmp_path: Path) -> None:
    target = await make_target(engine)
    path = tmp_path / "people.csv"
    path.write_text(
        f"{CSV_HEADER}\n"
        + "".join(f"user{number}@example.org,,User {number},,subscribed,,,,\n" for number in range(12))
    )
    args = (path, "--db", target.database_id, "--resource", target.resource_id, "--batch-size", "5")
    first = await tally_import(database_url, *args)
    assert first.exit_code == 0, first.output
    assert "12 added, 0 updated, 0 rejected; 13 lines" in first.stderr
    assert not (tmp_path / "people.csv.rejects.jsonl").exists()
    # Matching by email without regard to case: the same people, updated.
    path.write_text(path.read_text().replace("user", "USER").replace("subscribed", "unsubscribed"))
    second = await tally_import(database_url, *args)
    assert second.exit_code == 0, second.output
    assert "0 added, 12 updated, 0 rejected" in second.stderr
    stored = await stored_profiles(engine, target.database_id)
    assert len(stored) == 12
    assert await profile_count(engine, target.database_id) == 12
    statuses = {sub["email"]: sub["status"] for profile in stored.values() for sub in profile["subscriptions"]}
    assert statuses["user3@example.org"] == 0 and statuses["USER3@example.org"] == 1


async def test_matching_by_phone(engine: AsyncEngine, database_url: str, tmp_path: Path) -> None:
    target = await make_target(engine)
    path = tmp_path / "phones.csv"
    path.write_text("phone,_fname\n+79001234567,Ann\n,Nobody\n+7 900 123-45-67,Anna\n")
    result = await tally_import(database_url, path, "--db", target.database_id, "--matching", "phone")
    assert result.exit_code == 1, result.output
    assert "1 added, 1 updated, 1 rejected" in result.stderr
    [entry] = rejects_of(tmp_path / "phones.csv.rejects.jsonl")
    assert entry["line"] == 3
    assert entry["error"] == "Missing parameter: phone (--matching phone needs a phone in every row)"


async def test_usage_errors_are_exit_2_and_write_nothing(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    target = await make_target(engine)
    other = await make_target(engine, ("email",))
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(f"{CSV_HEADER}\nann@example.org,,Ann,,subscribed,,,,\n")
    plain = tmp_path / "plain.csv"
    plain.write_text("email\nann@example.org\n")
    jsonl = tmp_path / "people.jsonl"
    jsonl.write_text('{"email": "ann@example.org"}\n')
    text = tmp_path / "people.txt"
    text.write_text("email\n")
    bad_header = tmp_path / "header.csv"
    bad_header.write_text("email,email\n")
    db, res = str(target.database_id), str(target.resource_id)
    cases = [
        ((csv_file, "--db", "999999", "--resource", res), "--db 999999: no such database"),
        ((csv_file, "--db", db), "the columns email_status, sms_status, push_status subscribe profiles"),
        ((plain, "--db", db, "--resource", res), "the file has no <channel>_status column"),
        ((jsonl, "--db", db, "--resource", res), "--resource is for the status columns of a CSV file"),
        ((csv_file, "--db", db, "--resource", str(other.resource_id)), "is not a resource of the account of"),
        ((csv_file, "--db", str(other.database_id), "--resource", str(other.resource_id)), "has no channel sms, push"),
        ((text, "--db", db), "cannot tell the format of people.txt"),
        ((bad_header, "--db", db), "column 'email' appears twice"),
        ((plain, "--db", db, "--resume"), f"no interrupted import into database {db} to resume"),
        ((plain, "--db", db, "--matching", "name"), "'name' is not one of 'email', 'phone', 'profile_id'"),
        ((tmp_path / "missing.csv", "--db", db), "does not exist"),
    ]
    for args, message in cases:
        result = await tally_import(database_url, *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.stderr.split()), (args, result.stderr)
    assert await profile_count(engine, target.database_id) == 0
    assert await profile_count(engine, other.database_id) == 0


async def test_resume_refuses_another_file_and_a_finished_import(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    target = await make_target(engine)
    path = tmp_path / "people.jsonl"
    path.write_text("".join(json.dumps({"email": f"u{number}@example.org"}) + "\n" for number in range(10)))
    db = str(target.database_id)
    done = await tally_import(database_url, path, "--db", db)
    assert done.exit_code == 0, done.output
    again = await tally_import(database_url, path, "--db", db, "--resume")
    assert again.exit_code == 2
    assert "already finished" in again.stderr and "without --resume" in again.stderr
    # An interrupted checkpoint of this file: another file is refused, naming the interrupted one.
    # The pipeline itself, stopped after one batch.
    plan = await prepare(engine, Request(path=path, database_id=target.database_id, batch_size=4))
    stop = asyncio.Event()
    stop.set()
    outcome = await run(engine, plan, stop=stop)
    assert outcome.stopped == "interrupted" and outcome.report.checkpoint.position.records == 4
    other = tmp_path / "other.jsonl"
    other.write_text('{"email": "x@example.org"}\n')
    refused = await tally_import(database_url, other, "--db", db, "--resume")
    assert refused.exit_code == 2
    assert f"is not the file of any interrupted import into database {db}" in " ".join(refused.stderr.split())
    assert "people.jsonl at line 5" in refused.stderr
    different = await tally_import(database_url, path, "--db", db, "--resume", "--matching", "phone")
    assert different.exit_code == 2
    assert "--matching email (now phone)" in different.stderr
    resumed = await tally_import(database_url, path, "--db", db, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert "0 added, 10 updated, 0 rejected" in resumed.stderr and "resumed at line 5" in resumed.stderr


def test_help_needs_no_database() -> None:
    result = CliRunner().invoke(
        cli, ["import", "--help"], env={"TALLY_DATABASE_URL": "mysql://nowhere"}, prog_name="tally"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Usage: tally import [OPTIONS] FILE")
    for text in ("email_status", "push_provider", "--resume", "Exit status"):
        assert text in result.stdout


async def test_a_later_run_of_the_same_file_takes_the_checkpoint_over(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    """The earlier run stops at its next batch, which is rolled back."""
    target = await make_target(engine)
    path = tmp_path / "people.jsonl"
    path.write_text("".join(json.dumps({"email": f"u{number}@example.org"}) + "\n" for number in range(9)))
    request = Request(path=path, database_id=target.database_id, batch_size=3)

    async def later_run_starts() -> None:
        other = create_engine(database_url)
        try:
            plan = await prepare(other, request)
            async with write_transaction(other) as conn:
                await checkpoint_begin(conn, plan.checkpoint, resumed=False)
        finally:
            await other.dispose()

    def after_a_batch(report: Report) -> None:
        if report.checkpoint.position.records == 3:  # another process, as it were, meanwhile
            thread = threading.Thread(target=asyncio.run, args=(later_run_starts(),))
            thread.start()
            thread.join()

    outcome = await run(engine, await prepare(engine, request), on_batch=after_a_batch)
    assert outcome.stopped == "superseded"
    assert outcome.report.checkpoint.position.records == 3
    assert await profile_count(engine, target.database_id) == 3


async def test_a_database_deleted_meanwhile_stops_the_import(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    target = await make_target(engine)
    path = tmp_path / "people.jsonl"
    path.write_text("".join(json.dumps({"email": f"u{number}@example.org"}) + "\n" for number in range(9)))

    async def delete_database() -> None:
        other = create_engine(database_url)
        try:
            async with write_transaction(other) as conn:
                await conn.execute(delete(databases).where(databases.c.id == target.database_id))
        finally:
            await other.dispose()

    def after_a_batch(report: Report) -> None:
        if report.checkpoint.position.records == 3:
            thread = threading.Thread(target=asyncio.run, args=(delete_database(),))
            thread.start()
            thread.join()

    plan = await prepare(engine, Request(path=path, database_id=target.database_id, batch_size=3))
    outcome = await run(engine, plan, on_batch=after_a_batch)
    assert (outcome.stopped, outcome.error) == ("failed", f"Database not found: {target.database_id}")
    assert outcome.report.checkpoint.position.records == 3
