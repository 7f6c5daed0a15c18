"""Settings, read once from ``TALLY_*`` environment variables into a frozen object.

Nothing else in Tally reads ``os.environ``: the settings object is built at start-up and
passed in, so tests build their own.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tally.db"
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_COUNT_CHUNK_SIZE = 250_000
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_TASK_RETENTION_DAYS = 30.0
DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_WORKER_CONCURRENCY = 1
DEFAULT_SHUTDOWN_GRACE = 25.0
DEFAULT_FEEDBACK_TIMEOUT = 15.0
#: Seconds between delivery attempts: about 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
DEFAULT_FEEDBACK_RETRY_SCHEDULE = (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
DEFAULT_SECRET_GRACE_HOURS = 24.0
DEFAULT_RECONCILE_HOURS = 24.0
DEFAULT_COUNT_CONNECTIONS = 2
DEFAULT_HISTORY_DAYS = 400.0
DEFAULT_DASHBOARD_SESSION_HOURS = 12.0
DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_BODY_TIMEOUT = 30.0
DEFAULT_MAX_CONNECTIONS = 1000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
#: How log lines are written (tally/logs.py).
LogFormat = Literal["text", "json"]


class ConfigError(ValueError):
    """A setting has a value Tally cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with its default."""

    database_url: str = DEFAULT_DATABASE_URL
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Seconds a connection has to send a request's line and headers (tally serve).
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    #: Seconds a request has to send its whole body, from its first read; then 408.
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    #: Connections and requests at once per API process; past it, requests get 503 (tally serve).
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    #: API requests per second per token (0: no limit); past it, 429 with Retry-After.
    rate_limit: float = 0.0
    #: Requests a token may send at once above the rate (0: one second's worth, at least 1).
    rate_burst: int = 0
    #: Rows per counting chunk (by the last refresh's counts): one query and one progress step.
    #: Small chunks cost start-up per query (1.3-1.8x at 50,000 on 10M profiles).
    count_chunk_size: int = DEFAULT_COUNT_CHUNK_SIZE
    #: Connections a recount counts its chunks on at once, all reading one snapshot
    #: (PostgreSQL; SQLite counts on one): the chunks of one aggregate, run in parallel.
    count_connections: int = DEFAULT_COUNT_CONNECTIONS
    #: How long a claimed task stays with its worker without a renewal.
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    #: Claims of one task before it ends as ``error`` (a worker died each time).
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    task_retention_days: float = DEFAULT_TASK_RETENTION_DAYS
    #: Days a refresh's counters stay in the history (databases/counters_history).
    history_days: float = DEFAULT_HISTORY_DAYS
    #: Seconds between looks at the queue when nothing woke the worker.
    poll_interval: float = DEFAULT_POLL_INTERVAL
    worker_concurrency: int = DEFAULT_WORKER_CONCURRENCY
    #: On SIGTERM, seconds a worker lets its running tasks finish before putting them back.
    shutdown_grace: float = DEFAULT_SHUTDOWN_GRACE
    #: A delivery attempt must get its 2xx within this many seconds.
    feedback_timeout: float = DEFAULT_FEEDBACK_TIMEOUT
    feedback_retry_schedule: tuple[float, ...] = DEFAULT_FEEDBACK_RETRY_SCHEDULE
    #: Networks feedback may reach although they are not global (operators only).
    feedback_allowed_networks: tuple[Network, ...] = ()
    #: How long a replaced signing secret keeps signing after `tally secret rotate`.
    secret_grace_hours: float = DEFAULT_SECRET_GRACE_HOURS
    #: Hours between two recounts of a (database, resource) that check its maintained counts; 0: never.
    reconcile_hours: float = DEFAULT_RECONCILE_HOURS
    #: How long a dashboard sign-in lasts; signing in again starts a new one.
    dashboard_session_hours: float = DEFAULT_DASHBOARD_SESSION_HOURS
    #: ``text`` for people, ``json`` (one object per line) for log shippers (tally/logs.py).
    log_format: LogFormat = "text"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Bounds:
    """The values a numeric variable may take, both ends included (never nan or inf)."""

    low: float
    high: float
    unit: str = ""
    integer: bool = False

    def describe(self) -> str:
        """``1 to 86400 seconds``, as errors and docs/configuration.md say it."""
        return f"{_plain(self.low)} to {_plain(self.high)} {self.unit}".rstrip()

    def parse(self, raw: str) -> int | float | None:
        """The value, or None when ``raw`` is not a number within the bounds."""
        try:
            value = int(raw) if self.integer else float(raw)
        except ValueError:
            return None
        return value if self.low <= value <= self.high else None  # nan compares false


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


@dataclass(frozen=True)
class Variable:
    """One ``TALLY_*`` variable: the setting it fills and, for numbers, their bounds."""

    field: str
    variable: str
    kind: Literal["text", "number", "numbers", "networks"]
    bounds: Bounds | None = None
    #: The words a text variable may be (any text when empty).
    choices: tuple[str, ...] = ()

    def parse(self, raw: str) -> object:
        if self.kind == "text":
            if self.choices and raw.strip().lower() not in self.choices:
                raise ConfigError(f"{self.variable} must be one of {', '.join(self.choices)}, got {raw!r}")
            return raw.strip().lower() if self.choices else raw
        if self.kind == "networks":
            return parse_networks(self.variable, raw)
        if self.kind == "number":
            return self._number(raw)
        return tuple(float(self._number(part.strip())) for part in raw.split(",") if part.strip())

    def _number(self, raw: str) -> int | float:
        assert self.bounds is not None
        value = self.bounds.parse(raw)
        if value is None:
            kind = "an integer" if self.bounds.integer else "a number"
            if self.kind == "numbers":
                kind = "comma-separated numbers"
            raise ConfigError(f"{self.variable} must be {kind} from {self.bounds.describe()}, got {raw!r}")
        return value


SECONDS_IN_A_DAY = 86400.0

#: Every variable, in docs/configuration.md's order. The bounds keep values Tally cannot
#: use (nan, inf, a retention that overflows a date, a lease of a second's fraction) out.
SETTINGS: tuple[Variable, ...] = (
    Variable("database_url", "TALLY_DATABASE_URL", "text"),
    Variable("max_body_bytes", "TALLY_MAX_BODY_BYTES", "number", Bounds(1024, 2**30, "bytes", integer=True)),
    Variable("header_timeout", "TALLY_HEADER_TIMEOUT", "number", Bounds(0.1, 3600, "seconds")),
    Variable("body_timeout", "TALLY_BODY_TIMEOUT", "number", Bounds(0.1, 3600, "seconds")),
    Variable("max_connections", "TALLY_MAX_CONNECTIONS", "number", Bounds(1, 1_000_000, integer=True)),
    Variable("rate_limit", "TALLY_RATE_LIMIT", "number", Bounds(0, 1_000_000, "requests per second")),
    Variable("rate_burst", "TALLY_RATE_BURST", "number", Bounds(0, 1_000_000, "requests", integer=True)),
    Variable("count_chunk_size", "TALLY_COUNT_CHUNK_SIZE", "number", Bounds(1, 10**9, "rows", integer=True)),
    Variable("count_connections", "TALLY_COUNT_CONNECTIONS", "number", Bounds(1, 16, "connections", integer=True)),
    Variable("lease_seconds", "TALLY_LEASE_SECONDS", "number", Bounds(1, SECONDS_IN_A_DAY, "seconds")),
    Variable("max_attempts", "TALLY_MAX_ATTEMPTS", "number", Bounds(1, 100, integer=True)),
    Variable("task_retention_days", "TALLY_TASK_RETENTION_DAYS", "number", Bounds(0.01, 36500, "days")),
    Variable("history_days", "TALLY_HISTORY_DAYS", "number", Bounds(0.01, 36500, "days")),
    Variable("poll_interval", "TALLY_POLL_INTERVAL", "number", Bounds(0.01, 3600, "seconds")),
    Variable("worker_concurrency", "TALLY_WORKER_CONCURRENCY", "number", Bounds(1, 64, integer=True)),
    Variable("shutdown_grace", "TALLY_SHUTDOWN_GRACE", "number", Bounds(0, 3600, "seconds")),
    Variable("feedback_allowed_networks", "TALLY_FEEDBACK_ALLOWED_NETWORKS", "networks"),
    Variable(
        "feedback_retry_schedule", "TALLY_FEEDBACK_RETRY_SCHEDULE", "numbers", Bounds(0, SECONDS_IN_A_DAY, "seconds")
    ),
    Variable("feedback_timeout", "TALLY_FEEDBACK_TIMEOUT", "number", Bounds(0.1, 300, "seconds")),
    Variable("secret_grace_hours", "TALLY_SECRET_GRACE_HOURS", "number", Bounds(0, 8760, "hours")),
    Variable("reconcile_hours", "TALLY_RECONCILE_HOURS", "number", Bounds(0, 8760, "hours")),
    Variable("dashboard_session_hours", "TALLY_DASHBOARD_SESSION_HOURS", "number", Bounds(0.01, 8760, "hours")),
    Variable("log_format", "TALLY_LOG_FORMAT", "text", choices=("text", "json")),
)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment, failing with a message that names the variable.

    The bounds are checked here, where operators' values come in; code and tests that build
    Settings themselves may go below them (a lease of 0.3 s makes a quick test).
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for setting in SETTINGS:
        raw = env.get(setting.variable)
        if raw is not None and raw != "":
            values[setting.field] = setting.parse(raw)
    return Settings(**values)  # type: ignore[arg-type]


def parse_networks(var: str, raw: str) -> tuple[Network, ...]:
    """``127.0.0.0/8, ::1/128`` → networks."""
    networks = []
    for part in raw.split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"{var} must be comma-separated networks like '127.0.0.0/8', got {part!r}") from None
    return tuple(networks)
