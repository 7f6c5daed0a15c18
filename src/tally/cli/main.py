"""``tally``: serve the API, run workers, migrate, manage tokens, load demo data."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

import click
import prometheus_client
import uvicorn

from tally.cli.common import (
    account_name,
    database_url_option,
    open_engine,
    run_with_database,
    settings_for,
    setup_logging,
)
from tally.cli.demo import demo
from tally.cli.http_protocol import server_options
from tally.cli.imports import import_command
from tally.cli.schedules import schedule
from tally.cli.tokens import token
from tally.config import DEFAULT_WORKER_CONCURRENCY
from tally.errors import NotFound
from tally.feedback.service import secret_create
from tally.gc_tuning import fewer_collections
from tally.store.engine import create_engine
from tally.store.migrate import upgrade


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tally")
def cli() -> None:
    """Tally: how many people can we reach, on which channel, right now.

    Start with 'tally serve' (API and worker in one process, on ./tally.db), create a token
    with 'tally token create --account NAME', and call POST /api/v1.1/... with it.
    """


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@database_url_option
@click.option("--no-worker", is_flag=True, help="Serve the API only; run 'tally worker' elsewhere.")
@click.option("--log-level", default="info", show_default=True, help="debug, info, warning or error.")
def serve(host: str, port: int, database_url: str | None, no_worker: bool, log_level: str) -> None:
    """Serve the HTTP API, with the worker inside the same process unless --no-worker."""
    from tally.app import create_app

    setup_logging(log_level.upper())
    settings = settings_for(database_url)
    run_with_database(_prepare(settings.database_url), settings)
    app = create_app(settings, embedded_worker=not no_worker)
    with fewer_collections():
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            log_config=None,  # setup_logging's handler writes uvicorn's lines too, ids included
            timeout_graceful_shutdown=30,
            **server_options(settings.header_timeout, settings.max_connections),
        )


async def _prepare(database_url: str) -> None:
    engine = await open_engine(settings_for(database_url))
    await engine.dispose()


@cli.command()
@database_url_option
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    help=f"Tasks run at once.  [env: TALLY_WORKER_CONCURRENCY; default: {DEFAULT_WORKER_CONCURRENCY}]",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    help="Serve this worker's Prometheus metrics (task runs, feedback, reconciliations) on this port.",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address of --metrics-port.")
def worker(database_url: str | None, concurrency: int | None, metrics_port: int | None, metrics_host: str) -> None:
    """Run tasks from the queue (no HTTP API) until SIGTERM or Ctrl-C."""
    from tally.app import build_worker
    from tally.metrics.routes import counted_here

    setup_logging()
    # No default on the option: it would hide TALLY_WORKER_CONCURRENCY, which load_settings reads.
    changes = {} if concurrency is None else {"worker_concurrency": concurrency}
    settings = settings_for(database_url, **changes)
    if metrics_port is not None:
        prometheus_client.start_http_server(metrics_port, metrics_host, registry=counted_here())

    async def main() -> None:
        # Handlers first: a SIGTERM while the schema is checked must stop us cleanly too.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        engine = await open_engine(settings)
        try:
            await build_worker(engine, settings).run(stop)
        finally:
            await engine.dispose()

    run_with_database(main(), settings)


@cli.command()
@database_url_option
def migrate(database_url: str | None) -> None:
    """Create the schema, or upgrade it in place to the newest version."""
    setup_logging()
    settings = settings_for(database_url)

    async def main() -> None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    run_with_database(main(), settings)
    click.echo("Schema is up to date.", err=True)


@cli.group()
def secret() -> None:
    """Signing secrets for feedback deliveries (Standard Webhooks).

    Deliveries of an account without a secret are sent unsigned.
    """


def _new_secret(account: str, database_url: str | None, *, rotate: bool) -> None:
    settings = settings_for(database_url)
    grace = timedelta(hours=settings.secret_grace_hours if rotate else 0)

    async def main() -> str:
        engine = await open_engine(settings)
        try:
            return await secret_create(engine, account, grace=grace, create_account=not rotate)
        except NotFound as exc:
            raise click.ClickException(f"{exc.text} (accounts are made by 'tally token create')") from None
        finally:
            await engine.dispose()

    new = run_with_database(main(), settings)
    if rotate:
        click.echo(
            f"New signing secret for {account!r}; the previous one keeps signing for "
            f"{settings.secret_grace_hours:g} h (TALLY_SECRET_GRACE_HOURS):",
            err=True,
        )
    else:
        click.echo(f"Signing secret for {account!r} (replaces any previous one at once):", err=True)
    click.echo(new)


@secret.command("create")
@click.option("--account", required=True, callback=account_name, help="Account name; created if it does not exist.")
@database_url_option
def secret_create_command(account: str, database_url: str | None) -> None:
    """Create the account's signing secret and print it alone on the last line of stdout.

    Any previous secret stops signing at once; use 'rotate' to keep it valid for a while.

    Like 'tally token create', this creates the account if it does not exist, so that a
    new account can be set up in either order. 'rotate' never creates one.
    """
    _new_secret(account, database_url, rotate=False)


@secret.command("rotate")
@click.option("--account", required=True, callback=account_name, help="An existing account's name.")
@database_url_option
def secret_rotate_command(account: str, database_url: str | None) -> None:
    """Add a new signing secret; the old one stays valid for the grace period.

    The account must exist: a misspelt name is an error, never a new account whose secret
    would sign nothing while the real account's old secret went on signing.

    During the grace period deliveries carry both signatures, space-separated, so
    receivers can switch to the new secret at their own pace.
    """
    _new_secret(account, database_url, rotate=True)


cli.add_command(demo)
cli.add_command(token)
cli.add_command(import_command)
cli.add_command(schedule)
