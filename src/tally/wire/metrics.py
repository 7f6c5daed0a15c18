"""API metrics: requests and their latency per method and status (Prometheus)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("tally_api_requests", "API requests answered, by method and HTTP status", ["method", "status"])
LATENCY = Histogram(
    "tally_api_request_seconds",
    "Time from a request's arrival at its method to its reply being built, by method",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
#: The label of every path that names no method, so that scanners cannot grow the series.
UNKNOWN = "unknown"


def observe(method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, str(status)).inc()
    LATENCY.labels(method).observe(seconds)
