"""Settings, read once from ``TALLY_*`` environment variables into a frozen object.

Nothing else in Tally reads ``os.environ``: the settings object is built at start-up and
passed in, so tests build their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./tally.db"
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_COUNT_CHUNK_SIZE = 50_000
DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_TASK_RETENTION_DAYS = 30.0
DEFAULT_POLL_INTERVAL = 1.0
DEFAULT_WORKER_CONCURRENCY = 1


class ConfigError(ValueError):
    """A setting has a value Tally cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with its default."""

    database_url: str = DEFAULT_DATABASE_URL
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    #: Profiles per counting chunk: each chunk is one aggregate query and one progress step.
    count_chunk_size: int = DEFAULT_COUNT_CHUNK_SIZE
    #: How long a claimed task stays with its worker without a renewal.
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    #: Claims of one task before it ends as ``error`` (a worker died each time).
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    task_retention_days: float = DEFAULT_TASK_RETENTION_DAYS
    #: Seconds between looks at the queue when nothing woke the worker.
    poll_interval: float = DEFAULT_POLL_INTERVAL
    worker_concurrency: int = DEFAULT_WORKER_CONCURRENCY

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


_ENV = {
    "database_url": ("TALLY_DATABASE_URL", str),
    "max_body_bytes": ("TALLY_MAX_BODY_BYTES", int),
    "count_chunk_size": ("TALLY_COUNT_CHUNK_SIZE", int),
    "lease_seconds": ("TALLY_LEASE_SECONDS", float),
    "max_attempts": ("TALLY_MAX_ATTEMPTS", int),
    "task_retention_days": ("TALLY_TASK_RETENTION_DAYS", float),
    "poll_interval": ("TALLY_POLL_INTERVAL", float),
    "worker_concurrency": ("TALLY_WORKER_CONCURRENCY", int),
}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment, failing with a message that names the variable."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for name, (var, cast) in _ENV.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        try:
            value = cast(raw)
        except ValueError:
            kind = "an integer" if cast is int else "a number"
            raise ConfigError(f"{var} must be {kind}, got {raw!r}") from None
        if cast is not str and value <= 0:
            raise ConfigError(f"{var} must be positive, got {raw!r}")
        values[name] = value
    return Settings(**values)  # type: ignore[arg-type]
