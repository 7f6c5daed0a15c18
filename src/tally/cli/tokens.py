"""``tally token``: create, list and revoke API tokens. A token is printed once, at its creation."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from tally.accounts.service import TokenInfo, token_create, token_list, token_revoke
from tally.cli.common import account_name, database_url_option, open_engine, run_with_database, settings_for
from tally.errors import NotFound
from tally.timefmt import rfc3339_seconds


@click.group()
def token() -> None:
    """API tokens: create, list, revoke."""


@token.command("create")
@click.option("--account", required=True, callback=account_name, help="Account name; created if it does not exist.")
@click.option("--read-only", is_flag=True, help="Only methods that write nothing; the others answer 403.")
@database_url_option
def token_create_command(account: str, read_only: bool, database_url: str | None) -> None:
    """Create a token for ACCOUNT and print it alone on the last line of stdout.

    The token is shown only once: Tally keeps only its hash and its first 12 characters.
    """
    settings = settings_for(database_url)

    async def main() -> str:
        engine = await open_engine(settings)
        try:
            created = await token_create(engine, account, read_only=read_only)
        finally:
            await engine.dispose()
        return created.token

    new_token = run_with_database(main(), settings)
    scope = "read-only token" if read_only else "token"
    click.echo(f"New {scope} for account {account!r} (shown once, keep it safe):", err=True)
    click.echo(new_token)


def _when(moment: datetime | None, never: str = "never") -> str:
    return never if moment is None else rfc3339_seconds(moment)


def _row(info: TokenInfo) -> str:
    prefix = f"{info.prefix}..." if info.prefix else "(older)"
    state = f"revoked {_when(info.revoked_at)}" if info.revoked_at else "active"
    scope = "read-only" if info.read_only else "full"
    return (
        f"{info.id:>6}  {prefix:<15}  {info.account:<20}  {scope:<9}  {_when(info.created_at):<20}  "
        f"{_when(info.last_used_at):<20}  {state}"
    )


def _optional_account(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return None if value is None else account_name(ctx, param, value)


@token.command("list")
@click.option("--account", default=None, callback=_optional_account, help="Only this account's tokens.")
@database_url_option
def token_list_command(account: str | None, database_url: str | None) -> None:
    """List tokens: id, first characters, account, scope, created, last used, state.

    Never the tokens themselves: Tally cannot show them. Last use is kept to the minute.
    """
    settings = settings_for(database_url)

    async def main() -> list[TokenInfo]:
        engine = await open_engine(settings)
        try:
            return await token_list(engine, account)
        finally:
            await engine.dispose()

    infos = run_with_database(main(), settings)
    header = f"{'id':>6}  {'prefix':<15}  {'account':<20}  {'scope':<9}  {'created':<20}  {'last used':<20}  state"
    click.echo(header)
    for info in infos:
        click.echo(_row(info))
    if not infos:
        click.echo("no tokens" + (f" for account {account!r}" if account else ""), err=True)


@token.command("revoke")
@click.argument("token_value", metavar="TOKEN", required=False)
@click.option("--id", "token_id", type=click.IntRange(1), help="Revoke the token with this id (tally token list).")
@database_url_option
def token_revoke_command(token_value: str | None, token_id: int | None, database_url: str | None) -> None:
    """Revoke TOKEN (or --id N): from now on every call with it gets 401, and its dashboard
    sessions end. Other tokens are untouched.

    Give TOKEN as '-' to read it from stdin, which keeps it out of the shell's history and
    of the process list. The token is never printed; the account it belonged to is.
    """
    if (token_value is None) == (token_id is None):
        raise click.UsageError("give either TOKEN or --id N")
    settings = settings_for(database_url)
    given = None
    if token_value is not None:
        given = (sys.stdin.readline() if token_value == "-" else token_value).strip()

    async def main() -> None:
        engine = await open_engine(settings)
        try:
            revoked = await token_revoke(engine, given, token_id=token_id)
        except NotFound as exc:
            raise click.ClickException(f"{exc.text}; nothing was revoked") from None
        finally:
            await engine.dispose()
        if revoked.newly:
            click.echo(f"Revoked token {revoked.token_id} of account {revoked.account!r}.", err=True)
        else:
            when = rfc3339_seconds(revoked.revoked_at)
            click.echo(
                f"Token {revoked.token_id} of account {revoked.account!r} was already revoked at {when}.", err=True
            )

    run_with_database(main(), settings)
