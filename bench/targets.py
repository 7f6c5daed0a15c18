"""Issue 9's targets, from what this run's benchmarks wrote: one table, met or not.

Reads the JSON files under build/bench/ (bench/latency.py, large_database.py, refresh.py
and import.py write them) and prints each target beside its figure; a target whose bench
did not run (PostgreSQL without TALLY_BENCH_POSTGRES_URL) says so. Writes the table as
JSON too (--json).

Usage: python bench/targets.py [--directory build/bench] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RECOUNT = "recount task (claim, chunks, finish)"


@dataclass
class Target:
    name: str
    goal: str
    figure: str
    verdict: str  # "met", "NOT met" or "not measured"


def read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.exists() else None


def at_most(value: float, limit: float) -> str:
    return "met" if value <= limit else "NOT met"


def at_least(value: float, limit: float) -> str:
    return "met" if value >= limit else "NOT met"


def latency_targets(directory: Path) -> list[Target]:
    measured = {entry["backend"]: entry for entry in read(directory / "latency.json") or []}
    targets = []
    for backend, rate in (("sqlite", 200.0), ("postgres", 300.0)):
        entry = measured.get(backend)
        label = "SQLite embedded" if backend == "sqlite" else "PostgreSQL, 2 workers"
        if entry is None:
            targets.append(Target(f"1,336 profiles, request to completed ({label})", "<= 10 ms", "", "not measured"))
            targets.append(Target(f"tiny tasks ({label})", f">= {rate:g}/s", "", "not measured"))
            continue
        targets.append(
            Target(
                f"1,336 profiles, request to completed ({label})",
                "<= 10 ms",
                f"median {entry['median_ms']:.1f} ms",
                at_most(entry["median_ms"], 10.0),
            )
        )
        targets.append(
            Target(
                f"tiny tasks ({label})",
                f">= {rate:g}/s",
                f"{entry['tiny_tasks_per_s']:.0f}/s, {entry['share_of_floor']:.1%} of the commit floor"
                f" ({entry['commit_floor_per_s']:.0f}/s)",
                at_least(entry["tiny_tasks_per_s"], rate),
            )
        )
    return targets


def large_database_targets(directory: Path) -> list[Target]:
    entry = read(directory / "large_database_10m.json")
    names = (
        ("10M profiles (PostgreSQL), request to completed", "<= 20 ms"),
        ("10M recount: profiles/add p99 during it", "<= 50 ms"),
        ("10M recount: progress moves", ">= 10"),
    )
    if entry is None:
        return [Target(name, goal, "", "not measured") for name, goal in names]
    return [
        Target(*names[0], f"median {entry['refresh_median_ms']:.1f} ms", at_most(entry["refresh_median_ms"], 20.0)),
        Target(*names[1], f"p99 {entry['during_p99_ms']:.1f} ms", at_most(entry["during_p99_ms"], 50.0)),
        Target(*names[2], f"{entry['during_progress_moves']} moves", at_least(entry["during_progress_moves"], 10)),
    ]


def recount_targets(directory: Path) -> list[Target]:
    targets = []
    for file, name, limit in (
        ("refresh-postgres-10m.json", "recount, 10M (PostgreSQL), vs the one aggregate", 1.25),
        ("refresh-postgres-1m.json", "recount, 1M (PostgreSQL), vs the one aggregate", 1.5),
        ("refresh-sqlite-1m.json", "recount, 1M (SQLite), vs the one aggregate", 1.5),
    ):
        entry = read(directory / file)
        if entry is None:
            targets.append(Target(name, f"<= {limit:g}x", "", "not measured"))
            continue
        ratio = entry["vs_one_aggregate"][RECOUNT]
        figure = f"{ratio:.2f}x ({entry['median_ms'][RECOUNT]:.0f} ms)"
        targets.append(Target(name, f"<= {limit:g}x", figure, at_most(ratio, limit)))
    return targets


def trigger_targets(directory: Path) -> list[Target]:
    entry = read(directory / "import.json")
    rates = {(m["backend"], m["name"]): m["rows_per_s"] for m in (entry or {}).get("measures", [])}
    targets = []
    for backend in ("sqlite", "postgres"):
        for label, triggered, untriggered in (
            ("tally import", "tally import", "tally import, count triggers off"),
            ("profiles/add_batch", "profiles/add_batch", "profiles/add_batch, count triggers off"),
        ):
            name = f"price of the count triggers on {label} ({backend})"
            if (backend, triggered) not in rates or (backend, untriggered) not in rates:
                targets.append(Target(name, "<= 20 %", "", "not measured"))
                continue
            price = 1 - rates[(backend, triggered)] / rates[(backend, untriggered)]
            targets.append(Target(name, "<= 20 %", f"{price:.1%}", at_most(price, 0.2)))
    return targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--directory", type=Path, default=Path("build/bench"))
    parser.add_argument("--json", type=Path, default=Path("build/bench/targets.json"))
    args = parser.parse_args()
    targets = [
        *latency_targets(args.directory),
        *large_database_targets(args.directory),
        *recount_targets(args.directory),
        *trigger_targets(args.directory),
    ]
    width = max(len(target.name) for target in targets)
    print(f"{'target':{width}}  {'goal':>9}  {'verdict':12}  figure")
    for target in targets:
        print(f"{target.name:{width}}  {target.goal:>9}  {target.verdict:12}  {target.figure}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps([asdict(target) for target in targets], indent=2) + "\n")
    print(f"written: {args.json}")


if __name__ == "__main__":
    main()
