"""Settings from TALLY_* variables: defaults, parsing, and errors that name the variable."""

from __future__ import annotations

import ipaddress

import pytest
from click.testing import CliRunner

from tally.cli.main import cli
from tally.config import DEFAULT_FEEDBACK_RETRY_SCHEDULE, ConfigError, Settings, load_settings


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
        ("TALLY_MAX_BODY_BYTES", "ten", "TALLY_MAX_BODY_BYTES must be an integer, got 'ten'"),
        ("TALLY_MAX_BODY_BYTES", "1.5", "TALLY_MAX_BODY_BYTES must be an integer, got '1.5'"),
        ("TALLY_LEASE_SECONDS", "-1", "TALLY_LEASE_SECONDS must be positive, got '-1'"),
        ("TALLY_COUNT_CHUNK_SIZE", "0", "TALLY_COUNT_CHUNK_SIZE must be positive, got '0'"),
        ("TALLY_FEEDBACK_TIMEOUT", "soon", "TALLY_FEEDBACK_TIMEOUT must be a number, got 'soon'"),
        ("TALLY_FEEDBACK_RETRY_SCHEDULE", "5,x", "TALLY_FEEDBACK_RETRY_SCHEDULE must be comma-separated seconds"),
        ("TALLY_FEEDBACK_RETRY_SCHEDULE", "5,-1", "TALLY_FEEDBACK_RETRY_SCHEDULE must not contain negative delays"),
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
    assert "TALLY_LEASE_SECONDS must be a number, got 'never'" in result.output
