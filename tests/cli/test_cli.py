"""The ``tally`` command line, through click's CliRunner (each command runs its own event loop)."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from tally.accounts.service import token_authenticate
from tally.catalog.service import database_require
from tally.cli.main import cli
from tally.store.engine import create_engine, read_transaction
from tally.store.tables import profiles

SUBCOMMANDS = [["serve"], ["worker"], ["migrate"], ["token"], ["token", "create"], ["token", "revoke"], ["demo"]]


@pytest.fixture(autouse=True)
def _no_tally_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Commands read TALLY_* variables: the developer's own must not leak into the tests."""
    for name in list(os.environ):
        if name.startswith("TALLY_") and not name.startswith("TALLY_TEST_"):
            monkeypatch.delenv(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'tally.db'}"


def _invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, prog_name="tally")


def _authenticate(url: str, token: str) -> int:
    async def main() -> int:
        engine = create_engine(url)
        try:
            return (await token_authenticate(engine, token)).account_id
        finally:
            await engine.dispose()

    return asyncio.run(main())


def test_cli_help_lists_every_command() -> None:
    result = _invoke("--help")
    assert result.exit_code == 0, result.output
    for command in ("serve", "worker", "migrate", "token", "demo"):
        assert f"  {command}" in result.stdout


@pytest.mark.parametrize("args", SUBCOMMANDS, ids=" ".join)
def test_cli_subcommand_help_needs_no_database(args: list[str]) -> None:
    # An unusable database URL in the environment: help must not even look at it.
    result = _invoke(*args, "--help", env={"TALLY_DATABASE_URL": "mysql://nowhere"})
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: tally {' '.join(args)} ")


def test_cli_short_help_option_works() -> None:
    result = _invoke("token", "create", "-h")
    assert result.exit_code == 0, result.output
    assert "--account" in result.stdout


def test_cli_version_prints_version() -> None:
    result = _invoke("--version")
    assert result.exit_code == 0, result.output
    assert "version" in result.stdout


def test_cli_token_create_prints_token_last_and_it_authenticates(sqlite_url: str) -> None:
    result = _invoke("token", "create", "--account", "acme", "--database-url", sqlite_url)
    assert result.exit_code == 0, result.output
    token = result.stdout.splitlines()[-1]
    assert token.startswith("tly_") and " " not in token
    assert "acme" in result.stderr and token not in result.stderr
    assert _authenticate(sqlite_url, token) > 0


def test_cli_token_create_same_account_new_token(sqlite_url: str) -> None:
    first = _invoke("token", "create", "--account", "acme", "--database-url", sqlite_url)
    second = _invoke("token", "create", "--account", "acme", "--database-url", sqlite_url)
    tokens = [result.stdout.splitlines()[-1] for result in (first, second)]
    assert tokens[0] != tokens[1]
    assert _authenticate(sqlite_url, tokens[0]) == _authenticate(sqlite_url, tokens[1])


def test_cli_token_create_database_url_from_environment(sqlite_url: str) -> None:
    result = _invoke("token", "create", "--account", "acme", env={"TALLY_DATABASE_URL": sqlite_url})
    assert result.exit_code == 0, result.output
    assert _authenticate(sqlite_url, result.stdout.splitlines()[-1]) > 0


@pytest.mark.parametrize("account", ["", "   ", "a" * 201])
def test_cli_token_create_bad_account_exits_2(sqlite_url: str, account: str) -> None:
    result = _invoke("token", "create", "--account", account, "--database-url", sqlite_url)
    assert result.exit_code == 2
    assert "--account" in result.stderr


def test_cli_token_create_missing_account_exits_2(sqlite_url: str) -> None:
    result = _invoke("token", "create", "--database-url", sqlite_url)
    assert result.exit_code == 2
    assert "--account" in result.stderr


def test_cli_migrate_empty_file_creates_schema(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    result = _invoke("migrate", "--database-url", f"sqlite:///{path}")
    assert result.exit_code == 0, result.output
    assert "up to date" in result.stderr
    with sqlite3.connect(path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert {"accounts", "api_tokens", "databases", "resources", "profiles", "subscriptions", "tasks"} <= tables
    assert {"counter_sets", "alembic_version"} <= tables
    assert revision is not None


def test_cli_migrate_twice_is_harmless(sqlite_url: str) -> None:
    results = [_invoke("migrate", "--database-url", sqlite_url) for _ in range(2)]
    assert [result.exit_code for result in results] == [0, 0]


def test_cli_demo_prints_ids_then_token_last(sqlite_url: str) -> None:
    result = _invoke("demo", "--profiles", "100", "--database-url", sqlite_url)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "account: demo"
    assert lines[1].startswith("database_id: ") and lines[2].startswith("resource_id: ")
    database_id = int(lines[1].removeprefix("database_id: "))
    assert int(lines[2].removeprefix("resource_id: ")) > 0
    assert len(lines) == 4
    assert _authenticate(sqlite_url, lines[3]) > 0

    account_id = _authenticate(sqlite_url, lines[3])

    async def counts() -> tuple[int, int]:
        engine = create_engine(sqlite_url)
        try:
            async with read_transaction(engine) as conn:
                live = (await database_require(conn, account_id, database_id)).profiles_count
                rows = await conn.scalar(select(func.count()).select_from(profiles))
        finally:
            await engine.dispose()
        return int(live or 0), int(rows or 0)

    assert asyncio.run(counts()) == (100, 100)


@pytest.mark.parametrize(
    "args",
    [
        ["migrate"],
        ["worker"],
        ["token", "create", "--account", "acme"],
        ["demo", "--profiles", "1"],
        ["serve"],
    ],
    ids=" ".join,
)
def test_cli_bad_database_url_exits_2_naming_it(args: list[str]) -> None:
    result = _invoke(*args, "--database-url", "mysql://x")
    assert result.exit_code == 2, result.output
    assert "'mysql://x'" in result.stderr
    assert "Traceback" not in result.output


def test_cli_bad_database_url_from_environment_exits_2() -> None:
    result = _invoke("migrate", env={"TALLY_DATABASE_URL": "mysql://x"})
    assert result.exit_code == 2
    assert "'mysql://x'" in result.stderr


def test_cli_bad_setting_exits_2_naming_variable(sqlite_url: str) -> None:
    result = _invoke("migrate", "--database-url", sqlite_url, env={"TALLY_LEASE_SECONDS": "soon"})
    assert result.exit_code == 2
    assert "TALLY_LEASE_SECONDS must be a number from 1 to 86400 seconds, got 'soon'" in result.stderr


@pytest.mark.parametrize("command", [["migrate"], ["worker"], ["token", "create", "--account", "acme"]], ids=" ".join)
def test_cli_sqlite_file_in_missing_directory_exits_1(tmp_path: Path, command: list[str]) -> None:
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'tally.db'}"
    result = _invoke(*command, "--database-url", url)
    assert result.exit_code == 1
    assert f"Cannot use the database {url}: directory {tmp_path / 'missing-dir'} does not exist" in result.stderr
    assert (result.stdout, tmp_path.exists(), (tmp_path / "missing-dir").exists()) == ("", True, False)


def test_cli_unreachable_postgres_exits_1_hiding_password() -> None:
    with _closed_port() as port:
        url = f"postgresql://tally:s3cret@127.0.0.1:{port}/tally"
        result = _invoke("migrate", "--database-url", url)
    assert result.exit_code == 1
    assert f"Cannot use the database postgresql://tally:***@127.0.0.1:{port}/tally" in result.stderr
    assert "s3cret" not in result.output


@pytest.fixture
def fresh_postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database (not migrated), dropped afterwards."""
    admin = os.environ.get("TALLY_TEST_POSTGRES_URL")
    if not admin:
        pytest.skip("TALLY_TEST_POSTGRES_URL is not set")
    name = f"tally_cli_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rpartition('/')[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_cli_postgres_token_create_needs_migrate_first(fresh_postgres_url: str) -> None:
    before = _invoke("token", "create", "--account", "acme", "--database-url", fresh_postgres_url)
    assert before.exit_code == 1
    assert "run 'tally migrate' first" in before.stderr
    assert _invoke("migrate", "--database-url", fresh_postgres_url).exit_code == 0
    after = _invoke("token", "create", "--account", "acme", "--database-url", fresh_postgres_url)
    assert after.exit_code == 0, after.output
    assert _authenticate(fresh_postgres_url, after.stdout.splitlines()[-1]) > 0


@contextmanager
def _closed_port() -> Iterator[int]:
    """A loopback port with nothing listening on it, for as long as the block runs."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))  # bound but never listening: connections are refused
        yield int(bound.getsockname()[1])
