"""A 100,000-line import on each backend, and its memory: the same for 10,000 lines.

Memory is the peak RSS of the real process (``ru_maxrss`` of the child, read by a small
wrapper process), once for 10,000 lines and once for 100,000: a pipeline that kept rows
(or their outcomes) would grow by tens of MB between the two; one that streams stays
within a few MB, whatever the size.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.imports.support import checkpoint_row, make_target, profile_count
from tests.processes import TALLY

#: Runs the command given in its arguments; prints the child's peak RSS in KiB.
PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)\n"
)
#: Growth of the peak RSS from 10,000 to 100,000 lines that still counts as flat.
FLAT_KIB = 25 * 1024


def write_people(path: Path, first: int, count: int) -> None:
    """Emails for all; sms for 40 %, push for 30 % (as the benchmark's file)."""
    with path.open("w") as file:
        file.write("email,phone,_fname,email_status,sms_status,push_status,push_provider,push_subscription_id\n")
        for number in range(first, first + count):
            sms = number % 5 < 2
            push = number % 10 < 3
            file.write(
                f"user{number}@example.org,{f'+7900{number:07d}' if sms else ''},User {number},subscribed,"
                f"{'subscribed' if sms else ''},{'subscribed' if push else ''},{'fcm' if push else ''},"
                f"{f'tok{number}' if push else ''}\n"
            )


def _peak_rss(command: list[str]) -> int:
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *command], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.strip())


@pytest.mark.slow
async def test_100000_lines_go_in_within_flat_memory(engine: AsyncEngine, database_url: str, tmp_path: Path) -> None:
    target = await make_target(engine)
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    write_people(small, 0, 10_000)
    write_people(large, 10_000, 100_000)
    options = ["--db", str(target.database_id), "--resource", str(target.resource_id), "--database-url", database_url]
    peak_small = await asyncio.to_thread(_peak_rss, [TALLY, "import", str(small), *options])
    peak_large = await asyncio.to_thread(_peak_rss, [TALLY, "import", str(large), *options])
    assert await profile_count(engine, target.database_id) == 110_000
    row = await checkpoint_row(engine, target.database_id, large)
    assert row is not None and (row.records, row.added, row.rejected) == (100_000, 100_000, 0)
    assert peak_large - peak_small < FLAT_KIB, (peak_small, peak_large)
