"""``tally schedule``: an account's scheduled refreshes from the command line.

The same services as the schedules/* methods: what one shows, the other lists.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncConnection

from tally.accounts.service import account_require
from tally.cli.common import account_name, database_url_option, open_engine, run_with_database, settings_for
from tally.errors import TallyError
from tally.schedules import service
from tally.schedules.cron import InvalidSchedule, check_cron, check_timezone
from tally.store.engine import write_transaction
from tally.store.types import utcnow
from tally.timefmt import rfc3339_seconds

T = TypeVar("T")

account_option = click.option(
    "--account", required=True, callback=account_name, help="The account the schedule belongs to."
)


def _in_account(account: str, database_url: str | None, work: Callable[[AsyncConnection, int], Awaitable[T]]) -> T:
    """Run ``work`` in one write transaction of the account's; Tally's errors as one line."""
    settings = settings_for(database_url)

    async def main() -> T:
        engine = await open_engine(settings)
        try:
            async with write_transaction(engine) as conn:
                return await work(conn, await account_require(conn, account))
        except TallyError as error:
            raise click.ClickException(error.text) from None
        finally:
            await engine.dispose()

    return run_with_database(main(), settings)


def _line(schedule: service.Schedule) -> str:
    state = "paused" if schedule.paused else f"next {rfc3339_seconds(schedule.next_due_at)}"
    last = f", last task {schedule.last_task_id}" if schedule.last_task_id else ""
    return (
        f"{schedule.id}  database {schedule.database_id}, resource {schedule.resource_id}: "
        f"'{schedule.cron}' {schedule.timezone}, {state}{last}"
    )


def _checked(check: Callable[[str], str]) -> Callable[[click.Context, click.Parameter, str], str]:
    def callback(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
        try:
            return check(value)
        except InvalidSchedule as error:
            raise click.BadParameter(str(error)) from None

    return callback


@click.group("schedule")
def schedule() -> None:
    """Refreshes of a database's counters on a cron schedule of their own.

    Each due time queues one refresh, run by the workers (or by 'tally serve' on the
    embedded default). The same as the schedules/* API methods.
    """


@schedule.command("add")
@account_option
@click.option("--database", "database_id", type=int, required=True, help="Database id.")
@click.option("--resource", "resource_id", type=int, required=True, help="Resource id.")
@click.option("--cron", required=True, callback=_checked(check_cron), help="5 fields, e.g. '0 6 * * 1-5'.")
@click.option(
    "--timezone", default="UTC", show_default=True, callback=_checked(check_timezone), help="IANA time zone name."
)
@database_url_option
def schedule_add_command(
    account: str, database_id: int, resource_id: int, cron: str, timezone: str, database_url: str | None
) -> None:
    """Refresh DATABASE's counters for RESOURCE at every time CRON names, in TIMEZONE."""

    async def add(conn: AsyncConnection, account_id: int) -> service.Schedule:
        return await service.schedule_add(
            conn, account_id, database_id, resource_id, cron=cron, timezone=timezone, feedback=None, now=utcnow()
        )

    click.echo(_line(_in_account(account, database_url, add)))


@schedule.command("list")
@account_option
@database_url_option
def schedule_list_command(account: str, database_url: str | None) -> None:
    """The account's schedules, one a line: id, pair, cron, time zone, next due time."""

    async def listed(conn: AsyncConnection, account_id: int) -> list[service.Schedule]:
        found: list[service.Schedule] = []
        from_id = 1
        while from_id:
            page = await service.schedule_list(conn, account_id, from_id, 1000)
            found += page.items
            from_id = page.next_from_id
        return found

    schedules = _in_account(account, database_url, listed)
    for item in schedules:
        click.echo(_line(item))
    if not schedules:
        click.echo(f"No schedules in account {account!r}.", err=True)


def _change(schedule_id: int, account: str, database_url: str | None, changes: service.ScheduleChanges) -> None:
    async def change(conn: AsyncConnection, account_id: int) -> service.Schedule:
        return await service.schedule_update(conn, account_id, schedule_id, changes, utcnow())

    click.echo(_line(_in_account(account, database_url, change)))


@schedule.command("pause")
@click.argument("schedule_id", type=int)
@account_option
@database_url_option
def schedule_pause_command(schedule_id: int, account: str, database_url: str | None) -> None:
    """Stop SCHEDULE_ID from running until it is resumed."""
    _change(schedule_id, account, database_url, service.ScheduleChanges(paused=True))


@schedule.command("resume")
@click.argument("schedule_id", type=int)
@account_option
@database_url_option
def schedule_resume_command(schedule_id: int, account: str, database_url: str | None) -> None:
    """Run SCHEDULE_ID again from its next due time (the times missed while paused do not run)."""
    _change(schedule_id, account, database_url, service.ScheduleChanges(paused=False))


@schedule.command("delete")
@click.argument("schedule_id", type=int)
@account_option
@database_url_option
def schedule_delete_command(schedule_id: int, account: str, database_url: str | None) -> None:
    """Delete SCHEDULE_ID. Refreshes it already queued still run."""

    async def delete(conn: AsyncConnection, account_id: int) -> None:
        await service.schedule_delete(conn, account_id, schedule_id)

    _in_account(account, database_url, delete)
    click.echo(f"Deleted schedule {schedule_id}.", err=True)
