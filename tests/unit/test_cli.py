"""The command line: help names the environment, errors are one clear line."""

from __future__ import annotations

from click.testing import CliRunner

from streams.cli import cli
from streams.settings import Settings


def test_help_names_every_environment_variable() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for field in Settings.model_fields:
        assert f"RISKALERT_{field.upper()}" in result.output
    for command in ("stack", "topics", "config"):
        assert command in result.output


def test_bad_configuration_is_one_clear_error_not_a_traceback() -> None:
    result = CliRunner().invoke(cli, ["config", "show"], env={"RISKALERT_CLICKHOUSE_DSN": "ftp://x"})
    assert result.exit_code == 2
    assert "RISKALERT_CLICKHOUSE_DSN: unsupported scheme 'ftp'" in result.output
    assert "Traceback" not in result.output


def test_config_show_hides_secrets() -> None:
    env = {
        "RISKALERT_CLICKHOUSE_DSN": "https://ops:topsecret@ch:8443/kpi",
        "RISKALERT_HMAC_KEY": "centre-hmac-key-0123456789",
    }
    result = CliRunner().invoke(cli, ["config", "show"], env=env)
    assert result.exit_code == 0, result.output
    assert "topsecret" not in result.output
    assert "centre-hmac-key" not in result.output
    assert "https://ops:***@ch:8443/kpi" in result.output
