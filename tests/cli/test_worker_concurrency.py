"""``tally worker``'s concurrency: --concurrency, else TALLY_WORKER_CONCURRENCY, else 1.

Real worker processes on a SQLite file: each is stopped with SIGTERM once its start line
says the concurrency it runs with.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tally.cli.main import cli
from tests.processes import TALLY

pytestmark = pytest.mark.slow


def _started_concurrency(tmp_path: Path, flags: list[str], env: dict[str, str]) -> str:
    """The start line of a real ``tally worker``, which is then stopped with SIGTERM."""
    log = tmp_path / "worker.log"
    clean = {key: value for key, value in os.environ.items() if not key.startswith("TALLY_")}
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [TALLY, "worker", *flags, "--database-url", f"sqlite:///{tmp_path / 'tally.db'}"],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**clean, **env},
        )
    try:
        deadline = time.monotonic() + 20
        while " started (concurrency " not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    (line,) = [line for line in log.read_text().splitlines() if " started (concurrency " in line]
    return line.rpartition("(")[2]


@pytest.mark.parametrize(
    ("flags", "env", "expected"),
    [
        ([], {"TALLY_WORKER_CONCURRENCY": "3"}, "concurrency 3)"),
        (["--concurrency", "5"], {"TALLY_WORKER_CONCURRENCY": "3"}, "concurrency 5)"),
        ([], {}, "concurrency 1)"),
    ],
    ids=["environment", "flag wins", "built-in default"],
)
def test_worker_concurrency_flag_then_environment_then_default(
    tmp_path: Path, flags: list[str], env: dict[str, str], expected: str
) -> None:
    assert _started_concurrency(tmp_path, flags, env) == expected


def test_worker_bad_concurrency_in_environment_exits_2_naming_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tally.db'}"
    result = CliRunner().invoke(cli, ["worker", "--database-url", url], env={"TALLY_WORKER_CONCURRENCY": "65"})
    assert result.exit_code == 2
    assert "TALLY_WORKER_CONCURRENCY must be an integer from 1 to 64, got '65'" in result.stderr


def test_worker_help_says_where_concurrency_comes_from() -> None:
    result = CliRunner().invoke(cli, ["worker", "--help"], prog_name="tally", terminal_width=200)
    assert result.exit_code == 0
    assert "TALLY_WORKER_CONCURRENCY" in result.stdout
