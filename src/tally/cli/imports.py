"""``tally import FILE --db ID``: profiles from a CSV, JSON Lines or JSON array file."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import signal
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from sqlalchemy.engine import make_url

from tally.cli.common import database_url_option, open_engine, run_with_database, settings_for
from tally.cli.progress import ImportProgress
from tally.imports.formats import FORMATS, Position
from tally.imports.run import DEFAULT_BATCH, REJECTS_SUFFIX, Outcome, Plan, Refused, Request, prepare, run

MATCHINGS = ("email", "phone", "profile_id")
#: Exit codes: all rows in; some rejected (or the file could not be read to its end);
#: usage errors are click's 2; stopped by SIGINT or SIGTERM, as shells report signals.
EXIT_REJECTED = 1
EXIT_SIGNAL = {signal.SIGINT: 130, signal.SIGTERM: 143}


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
@click.option("--db", "database_id", required=True, type=click.IntRange(min=1), help="The database to import into.")
@click.option(
    "--resource",
    "resource_id",
    type=click.IntRange(min=1),
    help="CSV: the resource that the <channel>_status columns subscribe profiles to (linked to --db).",
)
@click.option(
    "--matching",
    type=click.Choice(MATCHINGS),
    default="email",
    show_default=True,
    help="How a record finds the profile it updates. One that matches none is a new profile "
    "(by profile_id: rejected, 404).",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Override the format told by the extension.")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Where rejected records go, one JSON line each.  [default: FILE{REJECTS_SUFFIX}]",
)
@click.option("--resume", is_flag=True, help="Go on from the checkpoint of an interrupted import of FILE into --db.")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=DEFAULT_BATCH,
    show_default=True,
    help="Records per write transaction (and per checkpoint).",
)
@click.option(
    "--nested",
    type=click.Choice(["reject", "json"]),
    default="reject",
    show_default=True,
    help="JSON: a custom field holding a list or an object is rejected (as the API does) or stored as its JSON text.",
)
@database_url_option
@click.pass_context
def import_command(ctx: click.Context, /, file: Path, database_id: int, **options: Any) -> None:
    """Add or update the profiles of FILE in database --db, in batches, resumable.

    \b
    Formats, by extension (or --format):
      .csv             a header row, then one profile per row (columns below)
      .jsonl .ndjson   one profile data object per line, as profiles/add_batch takes
      .json            one array of profile objects, as database exports write it

    \b
    CSV columns (an empty cell is an absent field; values are text):
      email, phone, _status, _fname, ... and custom fields: the profile's fields
      <channel>_status    subscribe to --resource on that channel with that status:
                          email_status (address: email), sms_status (phone),
                          push_status (push_provider, push_subscription_id),
                          telegram_bot_status, viber_status, whatsapp_status,
                          notify_status (<channel>_id, <channel>_phone)
      <channel>_priority  that subscription's priority

    Each record is an import as the API's profiles/import does it: the fields present are
    set, the others kept; subscriptions are added or changed. It is validated the same way
    (the same errors); one that fails goes to the rejects file with its line number and the
    reason, and the others go on. Every batch is one transaction together with its checkpoint, kept in the database:
    after Ctrl-C (or a crash) the database holds whole batches only, and --resume goes on
    right after the last one. Ctrl-C finishes the batch being written; twice rolls it back.

    The profiles go into the account that owns --db (the operator has every account).

    Exit status: 0 every record went in; 1 some were rejected; 2 usage error (nothing
    written); 130 interrupted (143 on SIGTERM).
    """
    settings = settings_for(options["database_url"])
    request = Request(
        path=file,
        database_id=database_id,
        matching=options["matching"],
        format=options["fmt"],
        resource_id=options["resource_id"],
        rejects=options["rejects"],
        resume=options["resume"],
        batch_size=options["batch_size"],
        nested=options["nested"],
    )
    received: list[signal.Signals] = []

    async def main() -> tuple[Plan, Outcome]:
        stop, abandon = asyncio.Event(), asyncio.Event()
        progress: ImportProgress | None = None

        def on_signal(number: signal.Signals) -> None:
            received.append(number)
            say = progress.say if progress is not None else lambda text: click.echo(text, err=True)
            if stop.is_set():
                abandon.set()
                say("Rolling back the batch being written...")
            else:
                stop.set()
                say("Stopping after the batch being written (Ctrl-C again to roll it back now)...")

        loop = asyncio.get_running_loop()
        for number in EXIT_SIGNAL:
            # Only the main thread can take signals (a test may run the command in another).
            with contextlib.suppress(ValueError, RuntimeError):
                loop.add_signal_handler(number, on_signal, number)
        engine = await open_engine(settings)
        try:
            try:
                plan = await prepare(engine, request)
            except Refused as exc:
                raise click.UsageError(str(exc), ctx) from None
            progress = ImportProgress(file.name, plan.size, plan.checkpoint.position.offset)
            if plan.replaced is not None:
                line = plan.replaced.position.line + 1
                progress.say(f"Starting over: an interrupted import of this file (at line {line:,}) is replaced.")
            elif plan.resumed:
                progress.say(f"Resuming at {_next(plan, plan.checkpoint.position)}.")
            with progress:
                outcome = await run(engine, plan, stop=stop, abandon=abandon, on_batch=progress.update)
        finally:
            await engine.dispose()
        return plan, outcome

    plan, outcome = run_with_database(main(), settings)
    click.echo(_summary(plan, outcome), err=True)
    if outcome.stopped is not None:
        click.echo(_stopped(ctx, plan, outcome), err=True)
        ctx.exit(EXIT_SIGNAL[received[0]] if received else EXIT_REJECTED)
    ctx.exit(EXIT_REJECTED if outcome.report.checkpoint.counts.rejected else 0)


def _summary(plan: Plan, outcome: Outcome) -> str:
    report = outcome.report
    counts, position = report.checkpoint.counts, report.checkpoint.position
    rejected = f"{counts.rejected:,} rejected" + (f" (see {plan.rejects})" if counts.rejected else "")
    resumed = f", resumed at {_next(plan, plan.checkpoint.position)}" if plan.resumed else ""
    lines = position.line + 1 if plan.format == "json" and position.records else position.line
    return (
        f"{plan.path.name} into database {plan.database_id}: {counts.added:,} added, {counts.updated:,} updated, "
        f"{rejected}; {lines:,} lines, {report.seconds:.1f} s, {report.rate:,.0f} rows/s{resumed}"
    )


def _next(plan: Plan, position: Position) -> str:
    """Where reading goes on, in the file's own terms (an array's items may share lines)."""
    if plan.format == "json":
        return f"item {position.records:,} (line {position.line + 1:,})"
    return f"line {position.line + 1:,}"


def _done(plan: Plan, position: Position) -> str:
    if plan.format == "json":
        return f"items 0 to {position.records - 1:,}" if position.records else "no item"
    return f"lines 1 to {position.line:,}" if position.line else "no line"


def _stopped(ctx: click.Context, plan: Plan, outcome: Outcome) -> str:
    position = outcome.report.checkpoint.position
    if outcome.stopped == "superseded":
        return f"Stopped: another run of this import took its checkpoint over (this one got to line {position.line:,})."
    if outcome.stopped == "failed":
        return (
            f"Stopped by an error: {outcome.error}\n"
            f"The batch being written was rolled back: {_done(plan, position)} are in, as the checkpoint says.\n"
            f"To go on from {_next(plan, position)}: {_resume_command(ctx)}"
        )
    rolled = " (the batch being written was rolled back)" if outcome.stopped == "abandoned" else ""
    return (
        f"Interrupted{rolled}: {_done(plan, position)} are in, as the checkpoint in the database says.\n"
        f"To go on from {_next(plan, position)}: {_resume_command(ctx)}"
    )


def _resume_command(ctx: click.Context) -> str:
    """This command again, as typed (the options given on the command line), with --resume."""
    words = [ctx.command_path, shlex.quote(str(ctx.params["file"]))]
    for param in ctx.command.params:
        name = param.name or ""
        if name in ("file", "resume") or ctx.get_parameter_source(name) != ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[name]
        if name == "database_url":
            value = make_url(value).render_as_string(hide_password=True)
        flag = max(param.opts, key=len) if isinstance(param, click.Option) else name
        words += [flag, shlex.quote(str(value))]
    return " ".join([*words, "--resume"])
