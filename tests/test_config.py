"""Settings from TALLY_* variables: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner

from tally.cli.main import cli
from tally.config import DEFAULT_FEEDBACK_RETRY_SCHEDULE, SETTINGS, ConfigError, Settings, load_settings


def test_load_settings_empty_environment_gives_defaults() -> None:
    assert load_settings({}) == Settings()
    assert Settings().feedback_retry_schedule == DEFAULT_FEEDBACK_RETRY_SCHEDULE


def test_load_settings_parses_every_kind() -> None:
    settings = load_settings(
        {
            "TALLY_DATABASE_URL": "postgresql://tally@db/tally",
            "TALLY_MAX_BODY_BYTES": "2048",
            "TALLY_LEASE_SECONDS": "2.5",
            "TALLY_FEEDBACK_RETRY_SCHEDULE": "0.3, 0.3,1",
            "TALLY_FEEDBACK_ALLOWED_NETWORKS": "127.0.0.0/8, ::1",
        }
    )
    assert settings.database_url == "postgresql://tally@db/tally"
    assert (settings.max_body_bytes, settings.lease_seconds) == (2048, 2.5)
    assert settings.feedback_retry_schedule == (0.3, 0.3, 1.0)
    assert settings.feedback_allowed_networks == (
        ipaddress.ip_network("127.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "TALLY_MAX_BODY_BYTES",
            "ten",
            "TALLY_MAX_BODY_BYTES must be an integer from 1024 to 1073741824 bytes, got 'ten'",
        ),
        (
            "TALLY_MAX_BODY_BYTES",
            "1.5",
            "TALLY_MAX_BODY_BYTES must be an integer from 1024 to 1073741824 bytes, got '1.5'",
        ),
        ("TALLY_LEASE_SECONDS", "-1", "TALLY_LEASE_SECONDS must be a number from 1 to 86400 seconds, got '-1'"),
        ("TALLY_LEASE_SECONDS", "nan", "TALLY_LEASE_SECONDS must be a number from 1 to 86400 seconds, got 'nan'"),
        ("TALLY_COUNT_CHUNK_SIZE", "0", "TALLY_COUNT_CHUNK_SIZE must be an integer from 1 to 1000000000 rows, got '0'"),
        ("TALLY_TASK_RETENTION_DAYS", "1000000", "TALLY_TASK_RETENTION_DAYS must be a number from 0.01 to 36500 days"),
        ("TALLY_WORKER_CONCURRENCY", "inf", "TALLY_WORKER_CONCURRENCY must be an integer from 1 to 64, got 'inf'"),
        (
            "TALLY_FEEDBACK_TIMEOUT",
            "soon",
            "TALLY_FEEDBACK_TIMEOUT must be a number from 0.1 to 300 seconds, got 'soon'",
        ),
        ("TALLY_FEEDBACK_RETRY_SCHEDULE", "5,x", "TALLY_FEEDBACK_RETRY_SCHEDULE must be comma-separated numbers from"),
        (
            "TALLY_FEEDBACK_RETRY_SCHEDULE",
            "5,-1",
            "TALLY_FEEDBACK_RETRY_SCHEDULE must be comma-separated numbers from 0 to 86400 seconds, got '-1'",
        ),
        ("TALLY_FEEDBACK_ALLOWED_NETWORKS", "10.0.0.0/33", "TALLY_FEEDBACK_ALLOWED_NETWORKS must be comma-separated"),
    ],
)
def test_load_settings_bad_value_names_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings({variable: value})
    assert str(raised.value).startswith(message)


def test_cli_bad_setting_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["migrate"], env={"TALLY_LEASE_SECONDS": "never"})
    assert result.exit_code == 2
    assert "TALLY_LEASE_SECONDS must be a number from 1 to 86400 seconds, got 'never'" in result.output


#: Every numeric variable, with a value just inside its range and one far above it.
NUMERIC = {
    "TALLY_MAX_BODY_BYTES": ("1024", "10" * 20),
    "TALLY_COUNT_CHUNK_SIZE": ("1", "10" * 20),
    "TALLY_COUNT_CONNECTIONS": ("16", "17"),
    "TALLY_LEASE_SECONDS": ("86400", "1e300"),
    "TALLY_MAX_ATTEMPTS": ("100", "1000000"),
    "TALLY_TASK_RETENTION_DAYS": ("36500", "1000000"),
    "TALLY_HISTORY_DAYS": ("36500", "1000000"),
    "TALLY_POLL_INTERVAL": ("3600", "1e9"),
    "TALLY_WORKER_CONCURRENCY": ("64", "65"),
    "TALLY_SHUTDOWN_GRACE": ("3600", "1e9"),
    "TALLY_FEEDBACK_TIMEOUT": ("300", "1e9"),
    "TALLY_FEEDBACK_RETRY_SCHEDULE": ("0,86400", "5,1e9"),
    "TALLY_SECRET_GRACE_HOURS": ("8760", "1e12"),
    "TALLY_RECONCILE_HOURS": ("8760", "1e12"),
    "TALLY_DASHBOARD_SESSION_HOURS": ("8760", "1e12"),
    "TALLY_HEADER_TIMEOUT": ("3600", "1e12"),
    "TALLY_BODY_TIMEOUT": ("3600", "1e12"),
    "TALLY_MAX_CONNECTIONS": ("1000000", "1000001"),
    "TALLY_RATE_LIMIT": ("1000000", "1e12"),
    "TALLY_RATE_BURST": ("1000000", "1000001"),
}


@pytest.mark.parametrize("variable", list(NUMERIC))
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "huge"])
def test_numeric_setting_out_of_range_names_variable_range_and_value(variable: str, value: str) -> None:
    raw = NUMERIC[variable][1] if value == "huge" else value
    with pytest.raises(ConfigError) as raised:
        load_settings({variable: raw})
    message = str(raised.value)
    assert message.startswith(f"{variable} ")
    assert re.search(r" from \S+ to \S+", message), message
    assert message.endswith(f"got {raw!r}") or f"got {raw.split(',')[-1]!r}" in message, message


@pytest.mark.parametrize("variable", list(NUMERIC))
def test_numeric_setting_at_its_bound_is_accepted(variable: str) -> None:
    load_settings({variable: NUMERIC[variable][0]})


def test_every_numeric_setting_has_bounds() -> None:
    numeric = {field.name for field in fields(Settings) if field.type in ("int", "float", "tuple[float, ...]")}
    assert numeric == {setting.field for setting in SETTINGS if setting.bounds is not None}
    assert {setting.variable for setting in SETTINGS if setting.bounds is not None} == set(NUMERIC)


def test_defaults_are_within_their_bounds() -> None:
    defaults = Settings()
    for setting in SETTINGS:
        if setting.bounds is not None:
            value = getattr(defaults, setting.field)
            for one in value if isinstance(value, tuple) else (value,):
                assert setting.bounds.low <= one <= setting.bounds.high, setting.variable


def test_configuration_page_documents_every_range() -> None:
    page = (Path(__file__).parents[1] / "docs" / "configuration.md").read_text()
    rows = {line.split("|")[1].strip(" `"): line for line in page.splitlines() if line.startswith("| `TALLY_")}
    for setting in SETTINGS:
        if setting.bounds is not None:
            assert setting.bounds.describe() in rows[setting.variable], setting.variable


def test_log_format_is_text_or_json_whatever_the_case() -> None:
    assert load_settings({}).log_format == "text"
    assert load_settings({"TALLY_LOG_FORMAT": " JSON "}).log_format == "json"
    with pytest.raises(ConfigError) as raised:
        load_settings({"TALLY_LOG_FORMAT": "yaml"})
    assert str(raised.value) == "TALLY_LOG_FORMAT must be one of text, json, got 'yaml'"
