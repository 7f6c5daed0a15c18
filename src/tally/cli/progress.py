"""How a long import shows its progress on stderr.

On a terminal, a bar over the file's bytes (the ETA comes from the byte position against the
file's size, since rows vary in length) with rows and rows/s; elsewhere (a log, a pipe) a
plain line every ``PLAIN_EVERY`` seconds, since a bar would fill a log with redraws. The
summary line at the end is the command's, always printed.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TaskProgressColumn, TextColumn, TimeRemainingColumn

from tally.imports.run import Report

PLAIN_EVERY = 10.0


class ImportProgress:
    def __init__(self, name: str, size: int, offset: int) -> None:
        self._console = Console(stderr=True)
        self._name = name
        self._last_plain = time.monotonic()
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        if self._console.is_terminal:
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TaskProgressColumn(),
                TextColumn("{task.fields[rows]}"),
                TimeRemainingColumn(),
                console=self._console,
            )
            self._task = self._bar.add_task(name, total=max(size, 1), completed=offset, rows="")

    def __enter__(self) -> ImportProgress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *_exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, report: Report) -> None:
        position = report.checkpoint.position
        rows = f"{position.line:,} lines, {report.rate:,.0f} rows/s"
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=position.offset, rows=rows)
            return
        now = time.monotonic()
        if now - self._last_plain >= PLAIN_EVERY:
            self._last_plain = now
            share = 100.0 * position.offset / max(report.size, 1)
            self._console.print(f"{self._name}: {share:.0f} %, {rows}", highlight=False, markup=False, soft_wrap=True)

    def say(self, text: str) -> None:
        """A line above the bar (or alone)."""
        self._console.print(text, highlight=False, markup=False, soft_wrap=True)
