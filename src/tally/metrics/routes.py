"""``GET /metrics`` (Prometheus text format), unauthenticated like /healthz.

What this process counted (API requests and latencies per method, task runs, feedback
attempts, reconciliations), or with PROMETHEUS_MULTIPROC_DIR set what every process
sharing that directory counted; then the queue's depth, read from the tasks table at each
scrape so that any API process reports the same. A ``tally worker`` shows its own counts
on ``--metrics-port``. Nothing here names an account or an object.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import prometheus_client
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tally.capability import Capability
from tally.metrics.queries import QueueDepth, queue_depth
from tally.runtime import Runtime
from tally.store.engine import read_transaction
from tally.store.types import utcnow


def counted_here() -> CollectorRegistry:
    """The process's own counts, or all processes' when they share a multiprocess directory."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return prometheus_client.REGISTRY


class _Queue(Collector):
    def __init__(self, depth: QueueDepth, now_seconds: float) -> None:
        self.depth = depth
        self.now_seconds = now_seconds

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily("tally_tasks", "Active tasks by kind and status", labels=["kind", "status"])
        for (kind, status), count in sorted(self.depth.active.items()):
            active.add_metric([kind, status], count)
        yield active
        waiting = GaugeMetricFamily(
            "tally_tasks_oldest_due_seconds",
            "How long the longest-waiting due task has waited, by kind",
            labels=["kind"],
        )
        for kind, due in sorted(self.depth.oldest_due.items()):
            waiting.add_metric([kind], max(self.now_seconds - due.timestamp(), 0.0))
        yield waiting


async def metrics_page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    now = utcnow()
    async with read_transaction(runtime.engine) as conn:
        depth = await queue_depth(conn, now)
    queue = CollectorRegistry()
    queue.register(_Queue(depth, now.timestamp()))
    body = prometheus_client.generate_latest(counted_here()) + prometheus_client.generate_latest(queue)
    return Response(body, media_type=prometheus_client.CONTENT_TYPE_LATEST)


CAPABILITY = Capability(name="metrics", pages=[Route("/metrics", metrics_page, methods=["GET"])])
