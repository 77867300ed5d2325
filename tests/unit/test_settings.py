"""Settings parsing: defaults, DSNs, secrets, and errors that name the variable."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from streams.errors import SettingsError
from streams.settings import Settings, env_help, load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No RISKALERT_* variable from the caller's shell, and a private home."""
    import os

    for name in list(os.environ):
        if name.startswith("RISKALERT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISKALERT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_defaults_are_local_loopback(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert settings.clickhouse.embedded
    assert settings.clickhouse.path == clean_env / "clickhouse"
    assert settings.alertmanager_url == "http://127.0.0.1:9093"
    assert settings.kafka_client_config() == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "PLAINTEXT",
    }


def test_settings_are_frozen(clean_env: Path) -> None:
    settings = load_settings()
    with pytest.raises(Exception, match="frozen"):
        settings.kafka_port = 1  # type: ignore[misc]  # the point: assignment must fail


def test_https_dsn_is_parsed_and_password_hidden(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKALERT_CLICKHOUSE_DSN", "https://ops:s3cr%40t@ch.centre.local:8443/kpi")
    target = load_settings().clickhouse
    assert (target.scheme, target.host, target.port, target.database) == (
        "https",
        "ch.centre.local",
        8443,
        "kpi",
    )
    assert target.username == "ops"
    assert target.password.get_secret_value() == "s3cr@t"
    assert "s3cr" not in target.redacted()
    assert "s3cr" not in repr(load_settings())


def test_http_dsn_defaults_port_and_database(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKALERT_CLICKHOUSE_DSN", "http://ch1")
    target = load_settings().clickhouse
    assert (target.port, target.database, target.username) == (8123, "riskalert", "default")


def test_relative_chdb_path_is_under_home(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKALERT_CLICKHOUSE_DSN", "chdb://store/ch")
    assert load_settings().clickhouse.path == clean_env / "store" / "ch"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RISKALERT_CLICKHOUSE_DSN", "ftp://x", "RISKALERT_CLICKHOUSE_DSN: unsupported scheme 'ftp'"),
        ("RISKALERT_CLICKHOUSE_DSN", "https://", "RISKALERT_CLICKHOUSE_DSN: no host"),
        ("RISKALERT_CLICKHOUSE_DSN", "http://h:99999/db", "RISKALERT_CLICKHOUSE_DSN: bad port"),
        (
            "RISKALERT_KAFKA_BOOTSTRAP_SERVERS",
            "localhost",
            "RISKALERT_KAFKA_BOOTSTRAP_SERVERS: 'localhost' is not",
        ),
        ("RISKALERT_KAFKA_PORT", "ninety", "RISKALERT_KAFKA_PORT: Input should be a valid integer"),
        (
            "RISKALERT_ALERTMANAGER_URL",
            "127.0.0.1:9093",
            "RISKALERT_ALERTMANAGER_URL: '127.0.0.1:9093' is not",
        ),
        ("RISKALERT_KAFKA_SECURITY_PROTOCOL", "TLS", "RISKALERT_KAFKA_SECURITY_PROTOCOL: Input should be"),
        ("RISKALERT_TOPIC_PREFIX", "a b", "RISKALERT_TOPIC_PREFIX: only letters"),
    ],
)
def test_bad_values_name_the_variable(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert expected in str(caught.value)


def test_sasl_needs_credentials_and_names_them(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKALERT_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("RISKALERT_KAFKA_SASL_USERNAME", "riskalert")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "RISKALERT_KAFKA_SASL_MECHANISM" in str(caught.value)
    assert "RISKALERT_KAFKA_SASL_PASSWORD" in str(caught.value)
    assert "RISKALERT_KAFKA_SASL_USERNAME" not in str(caught.value)


def test_sasl_ssl_client_config(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKALERT_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("RISKALERT_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("RISKALERT_KAFKA_SASL_USERNAME", "riskalert")
    monkeypatch.setenv("RISKALERT_KAFKA_SASL_PASSWORD", "pw-123")
    monkeypatch.setenv("RISKALERT_KAFKA_SSL_CAFILE", "/etc/ssl/centre-ca.pem")
    settings = load_settings()
    config = settings.kafka_client_config()
    assert config["sasl.password"] == "pw-123"
    assert config["ssl.ca.location"] == "/etc/ssl/centre-ca.pem"
    assert "pw-123" not in repr(settings)


def test_local_stack_ports_must_differ(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKALERT_PROMETHEUS_PORT", "9092")
    with pytest.raises(SettingsError, match="ports must differ"):
        load_settings()


def test_local_hmac_key_generated_once_private_and_stable(clean_env: Path) -> None:
    settings = load_settings()
    first = settings.hmac_key_bytes()
    key_file = clean_env / "secrets" / "hmac.key"
    assert len(first) == 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_settings().hmac_key_bytes() == first
    assert first.hex() not in repr(settings)


def test_configured_hmac_key_wins_and_short_keys_are_refused(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKALERT_HMAC_KEY", "a-long-enough-centre-key")
    assert load_settings().hmac_key_bytes() == b"a-long-enough-centre-key"
    assert not (clean_env / "secrets").exists()
    monkeypatch.setenv("RISKALERT_HMAC_KEY", "short")
    with pytest.raises(SettingsError, match="RISKALERT_HMAC_KEY is too short"):
        load_settings().hmac_key_bytes()


def test_topic_prefix(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKALERT_TOPIC_PREFIX", "centre-a.")
    assert load_settings().topic("alerts.raw") == "centre-a.alerts.raw"


def test_env_help_covers_every_field_and_hides_secrets() -> None:
    rows = {name: default for name, _, default in env_help()}
    assert set(rows) == {f"RISKALERT_{field.upper()}" for field in Settings.model_fields}
    assert rows["RISKALERT_KAFKA_SASL_PASSWORD"] == "(unset)"
    assert rows["RISKALERT_CLICKHOUSE_DSN"] == "chdb://"


def test_clickhouse_retention_and_cluster_defaults(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.clickhouse_ttl_days == 1095
    assert settings.clickhouse_cluster == ""


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("RISKALERT_CLICKHOUSE_CLUSTER", "prod-1", "RISKALERT_CLICKHOUSE_CLUSTER: 'prod-1' is not a cluster"),
        ("RISKALERT_CLICKHOUSE_TTL_DAYS", "0", "RISKALERT_CLICKHOUSE_TTL_DAYS: Input should be greater"),
        ("RISKALERT_KPI_RED_OVERDUE_FEEDBACK_RATE", "0.01", "RED_OVERDUE_FEEDBACK_RATE must not be below"),
        ("RISKALERT_KPI_RED_STEP_COMPLIANCE", "0.99", "RISKALERT_KPI_RED_STEP_COMPLIANCE must not be above"),
    ],
)
def test_bad_clickhouse_and_kpi_settings_name_the_variable(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert expected in str(caught.value)
