"""Settings, read once from ``TALLY_*`` environment variables into a frozen object.

Nothing else in Tally reads ``os.environ``: the settings object is built at start-up and
passed in, so tests build their own.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tally.db"
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_COUNT_CHUNK_SIZE = 500_000
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

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConfigError(ValueError):
    """A setting has a value Tally cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with its default."""

    database_url: str = DEFAULT_DATABASE_URL
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Rows per counting chunk (by the last refresh's counts): one query and one progress step.
    #: Small chunks cost start-up per query (1.3-1.8x at 50,000 on 10M profiles).
    count_chunk_size: int = DEFAULT_COUNT_CHUNK_SIZE
    #: How long a claimed task stays with its worker without a renewal.
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    #: Claims of one task before it ends as ``error`` (a worker died each time).
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    task_retention_days: float = DEFAULT_TASK_RETENTION_DAYS
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

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


_ENV: dict[str, tuple[str, object]] = {
    "database_url": ("TALLY_DATABASE_URL", str),
    "max_body_bytes": ("TALLY_MAX_BODY_BYTES", int),
    "count_chunk_size": ("TALLY_COUNT_CHUNK_SIZE", int),
    "lease_seconds": ("TALLY_LEASE_SECONDS", float),
    "max_attempts": ("TALLY_MAX_ATTEMPTS", int),
    "task_retention_days": ("TALLY_TASK_RETENTION_DAYS", float),
    "poll_interval": ("TALLY_POLL_INTERVAL", float),
    "worker_concurrency": ("TALLY_WORKER_CONCURRENCY", int),
    "shutdown_grace": ("TALLY_SHUTDOWN_GRACE", float),
    "feedback_timeout": ("TALLY_FEEDBACK_TIMEOUT", float),
    "feedback_retry_schedule": ("TALLY_FEEDBACK_RETRY_SCHEDULE", "schedule"),
    "feedback_allowed_networks": ("TALLY_FEEDBACK_ALLOWED_NETWORKS", "networks"),
    "secret_grace_hours": ("TALLY_SECRET_GRACE_HOURS", float),
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment, failing with a message that names the variable."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for name, (var, cast) in _ENV.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        if cast == "schedule":
            values[name] = parse_schedule(var, raw)
        elif cast == "networks":
            values[name] = parse_networks(var, raw)
        else:
            values[name] = _parse_scalar(var, raw, cast)
    return Settings(**values)  # type: ignore[arg-type]


def _parse_scalar(var: str, raw: str, cast: object) -> object:
    if cast is str:
        return raw
    try:
        value = int(raw) if cast is int else float(raw)
    except ValueError:
        kind = "an integer" if cast is int else "a number"
        raise ConfigError(f"{var} must be {kind}, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{var} must be positive, got {raw!r}")
    return value


def parse_schedule(var: str, raw: str) -> tuple[float, ...]:
    """``5,300,1800`` → seconds between attempts; n values allow at most n + 1 attempts."""
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{var} must be comma-separated seconds like '5,300,1800', got {raw!r}") from None
    if any(delay < 0 for delay in delays):
        raise ConfigError(f"{var} must not contain negative delays, got {raw!r}")
    return delays


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
