"""Feedback at the edge: no API method of its own (``feedback`` is a parameter of
refresh_counters), but a task kind, a hook on every task's end, and a tasks/status section.
"""

from __future__ import annotations

from tally.capability import Capability
from tally.feedback.runner import KIND, run_delivery
from tally.feedback.service import deliveries_section, fail_delivery_of_failed_job, release_deliveries
from tally.queue.execution import TaskKind

DELIVERY_KIND = TaskKind(KIND, run_delivery)

CAPABILITY = Capability(
    "feedback",
    task_kinds=[DELIVERY_KIND],
    end_hooks=[release_deliveries, fail_delivery_of_failed_job],
    status_sections=[deliveries_section],
)
