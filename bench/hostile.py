"""Hostile inputs and the server's peak memory, as a table.

Runs tests/wire/test_hostile.py (a real ``tally serve``, each input of
tests/wire/hostile.py on a raw socket, its reply checked) and prints what it recorded: per
input, the reply, the bytes the client got onto the wire before the server answered, the
time to the reply, the growth of the server's peak resident memory, and, for inputs of a
MiB or more, that peak over the bytes sent (above 1, the server held more than it was sent).

    python bench/hostile.py [--json build/bench/hostile.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

RECORD = Path("build/test-artifacts/hostile/main.json")  # pytest without workers writes "main"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    RECORD.unlink(missing_ok=True)
    test = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:xdist",
        "-p",
        "no:cacheprovider",
        "tests/wire/test_hostile.py",
    ]
    subprocess.run(test, check=True, stdout=subprocess.DEVNULL)
    rows = json.loads(RECORD.read_text())
    print(f"{'input':<44} {'reply':>5} {'sent':>10} {'ms':>7} {'peak MiB':>9} {'peak/sent':>9}")
    for row in rows:
        sent_mib = row["sent_bytes"] / 2**20
        ratio = f"{row['peak_mib'] / sent_mib:.2f}" if sent_mib >= 1 else "-"
        print(
            f"{row['input']:<44} {row['status']:>5} {_size(row['sent_bytes']):>10} "
            f"{row['seconds'] * 1000:>7.0f} {row['peak_mib']:>9.1f} {ratio:>9}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1))


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB" if count >= 2**20 else f"{count / 1024:.1f} KiB"


if __name__ == "__main__":
    main()
