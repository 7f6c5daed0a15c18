"""The layers of docs/design.md, enforced: imports run only downwards, and never in a circle.

Every module under src/tally is read with ``ast`` (imports under TYPE_CHECKING count too:
a circle hidden there is still a circle in the design).
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

SOURCE = Path(__file__).parent.parent / "src"

#: Rank of each part of the tree; a module may import parts of its own rank or lower.
#: Capabilities share one rank: they may use each other, as long as no circle forms.
RANKS: dict[str, int] = {
    "tally": 0,
    "tally.errors": 0,
    "tally.config": 0,
    "tally.timefmt": 0,
    "tally.gc_tuning": 0,
    "tally.logs": 1,
    "tally.store": 1,
    "tally.queue": 2,
    "tally.runtime": 3,
    "tally.wire": 4,
    "tally.capability": 5,
    "tally.accounts": 6,
    "tally.catalog": 6,
    "tally.profiles": 6,
    "tally.counters": 6,
    "tally.tasks": 6,
    "tally.feedback": 6,
    "tally.imports": 6,
    "tally.schedules": 6,
    "tally.dashboard": 6,
    "tally.rate_limits": 6,
    "tally.metrics": 6,
    "tally.demo": 7,
    "tally.app": 7,
    "tally.cli": 7,
}
CAPABILITY_RANK = 6


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(path): path for path in sorted((SOURCE / "tally").rglob("*.py"))}


def _imports(module: str) -> set[str]:
    """The tally modules ``module`` imports (``from a import b`` names module a.b if it is one)."""
    tree = ast.parse(MODULES[module].read_text())
    is_package = MODULES[module].name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(anchor[: len(anchor) - node.level + 1] + ([base] if base else []))
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names)
    return {name for name in found if name in MODULES and name != module}


def _part(module: str) -> str:
    """The part of the tree a module belongs to: its entry in RANKS."""
    while module not in RANKS:
        module = module.rpartition(".")[0]
    return module


GRAPH: dict[str, set[str]] = {module: _imports(module) for module in MODULES}


def test_every_module_has_a_rank() -> None:
    unranked = [module for module in MODULES if not any(module == p or module.startswith(p + ".") for p in RANKS)]
    assert unranked == [], "add these to RANKS (and to the layers in docs/design.md)"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_downwards(module: str) -> None:
    rank = RANKS[_part(module)]
    upward = sorted(name for name in GRAPH[module] if RANKS[_part(name)] > rank)
    if rank < CAPABILITY_RANK:
        # A lower layer imports no capability and nothing of another part of its own rank.
        upward += sorted(name for name in GRAPH[module] if RANKS[_part(name)] == rank and _part(name) != _part(module))
    assert upward == [], f"{module} (rank {rank}) imports from above: {upward}"


def test_no_module_imports_in_a_circle() -> None:
    graphlib.TopologicalSorter(GRAPH).prepare()  # raises CycleError naming the circle


def test_no_capability_imports_in_a_circle() -> None:
    parts: dict[str, set[str]] = {}
    for module, imported in GRAPH.items():
        parts.setdefault(_part(module), set()).update(_part(name) for name in imported if _part(name) != _part(module))
    graphlib.TopologicalSorter(parts).prepare()
