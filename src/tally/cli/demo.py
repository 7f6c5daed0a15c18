"""``tally demo``: an account, a token, a database and a resource full of profiles."""

from __future__ import annotations

import itertools
import sys

import click

from tally.accounts.service import token_create
from tally.catalog.service import database_add, resource_add
from tally.cli.common import account_name, database_url_option, open_engine, run_with_database, settings_for
from tally.demo import demo_profiles
from tally.profiles.service import profiles_add
from tally.store.engine import write_transaction

BATCH = 10_000


@click.command()
@click.option(
    "--profiles",
    "count",
    default=10_000,
    show_default=True,
    type=click.IntRange(0, 100_000_000),
    help="How many profiles to create.",
)
@click.option("--account", default="demo", show_default=True, callback=account_name, help="Account to create them in.")
@database_url_option
def demo(count: int, account: str, database_url: str | None) -> None:
    """Create demo data: a token, a database, a resource (email, sms, push) and N profiles.

    Prints the ids, then the token alone on the last line of stdout. Progress goes to stderr.
    """
    settings = settings_for(database_url)

    async def main() -> tuple[str, int, int]:
        engine = await open_engine(settings)
        try:
            created = await token_create(engine, account)
            async with write_transaction(engine) as conn:
                database_id = await database_add(conn, created.account_id, "Demo customers", "Made by tally demo")
                resource_id = await resource_add(
                    conn,
                    created.account_id,
                    "Demo newsletter",
                    ["email", "sms", "push"],
                    [database_id],
                )
            profiles = demo_profiles(count, resource_id)
            done = 0
            while batch := list(itertools.islice(profiles, BATCH)):
                async with write_transaction(engine) as conn:
                    await profiles_add(conn, created.account_id, database_id, batch)
                done += len(batch)
                print(f"\rprofiles: {done:,}/{count:,}", end="", file=sys.stderr, flush=True)
            if count:
                print(file=sys.stderr)
        finally:
            await engine.dispose()
        return created.token, database_id, resource_id

    token, database_id, resource_id = run_with_database(main(), settings)
    click.echo(f"account: {account}")
    click.echo(f"database_id: {database_id}")
    click.echo(f"resource_id: {resource_id}")
    click.echo(token)
