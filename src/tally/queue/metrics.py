"""Task metrics: how long runs take, by kind and outcome (Prometheus).

The queue's depth is not counted here but read from the tasks table when /metrics is
scraped (metrics/), so that it is the same whichever process is asked.
"""

from __future__ import annotations

from prometheus_client import Histogram

TASK_SECONDS = Histogram(
    "tally_task_seconds",
    "Time a task's run took, from its claim to its outcome, by kind and outcome",
    ["kind", "outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
