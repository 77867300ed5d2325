"""The one settings object: every broker address, path, port and secret comes from here.

Values come from `RISKALERT_*` environment variables (or a `.env` file in the working directory).
Nothing else in the code names a broker, a path or a secret.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.errors import SettingsError

ENV_PREFIX = "RISKALERT_"
# The repository checkout this package runs from: deploy/ and schemas/ live beside streams/.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
HMAC_KEY_BYTES = 32

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


@dataclass(frozen=True)
class ClickHouseTarget:
    """A parsed ClickHouse DSN: embedded chDB (a path) or a server over HTTP(S)."""

    scheme: Literal["chdb", "http", "https"]
    path: Path | None = None
    host: str | None = None
    port: int | None = None
    username: str = "default"
    password: SecretStr = field(default_factory=lambda: SecretStr(""))
    database: str = "riskalert"

    @property
    def embedded(self) -> bool:
        """True for chDB, where one process owns the data path."""
        return self.scheme == "chdb"

    def redacted(self) -> str:
        """The DSN with the password hidden, safe for logs and `--help`."""
        if self.embedded:
            return f"chdb://{self.path}"
        auth = f"{self.username}:***@" if self.password.get_secret_value() else f"{self.username}@"
        return f"{self.scheme}://{auth}{self.host}:{self.port}/{self.database}"


def parse_clickhouse_dsn(dsn: str, home: Path) -> ClickHouseTarget:
    """Parse `chdb://[path]` or `http(s)://[user[:pass]@]host[:port][/db]`.

    A relative chDB path is taken relative to `home`; an empty one means `home/clickhouse`.

    Raises:
        ValueError: with a message that says what is wrong and what is accepted.
    """
    parts = urlsplit(dsn)
    if parts.scheme == "chdb":
        raw_path = (parts.netloc + parts.path) if parts.netloc else parts.path
        path = Path(raw_path) if raw_path else Path("clickhouse")
        return ClickHouseTarget(scheme="chdb", path=path if path.is_absolute() else home / path)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ValueError(
                f"no host in {parts.scheme}:// DSN; expected {parts.scheme}://user:pass@host:8123/db"
            )
        try:
            port = parts.port or (8443 if parts.scheme == "https" else 8123)
        except ValueError as exc:
            raise ValueError(f"bad port in DSN: {exc}") from exc
        database = parts.path.strip("/") or "riskalert"
        if "/" in database:
            raise ValueError(f"the DSN path must be one database name, got {database!r}")
        return ClickHouseTarget(
            scheme=parts.scheme,  # type: ignore[arg-type]  # narrowed by the membership test above
            host=parts.hostname,
            port=port,
            username=unquote(parts.username or "default"),
            password=SecretStr(unquote(parts.password or "")),
            database=database,
        )
    shown = parts.scheme or "(none)"
    raise ValueError(f"unsupported scheme {shown!r}; use chdb://[path] or http(s)://user:pass@host:8123/db")


class Settings(BaseSettings):
    """riskalert's configuration. Every field is read from `RISKALERT_<FIELD NAME IN CAPITALS>`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    # --- Kafka -----------------------------------------------------------------------------------
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka bootstrap servers, comma-separated host:port"
    )
    kafka_security_protocol: SecurityProtocol = Field("PLAINTEXT", description="Kafka security protocol")
    kafka_sasl_mechanism: SaslMechanism | None = Field(None, description="SASL mechanism")
    kafka_sasl_username: str | None = Field(None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password (secret)")
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle (PEM) that signed the brokers' certs")
    kafka_ssl_certfile: Path | None = Field(None, description="client certificate (PEM) for mutual TLS")
    kafka_ssl_keyfile: Path | None = Field(None, description="client private key (PEM) for mutual TLS")
    kafka_ssl_key_password: SecretStr | None = Field(None, description="password of the client key (secret)")
    topic_prefix: str = Field("", description="prefix for every topic name, e.g. 'centre-a.' (empty: none)")
    topic_partitions: int = Field(6, ge=1, le=1000, description="partitions of every data topic")
    topic_replication: int = Field(1, ge=1, le=10, description="replication factor of every topic")

    # --- ClickHouse ------------------------------------------------------------------------------
    clickhouse_dsn: SecretStr = Field(
        SecretStr("chdb://"),
        description="chdb://[path] (embedded, default <home>/clickhouse) or http(s)://user:pass@host:8123/db",
    )
    clickhouse_verify_tls: bool = Field(True, description="verify the ClickHouse server's TLS certificate")
    clickhouse_ca_cert: Path | None = Field(None, description="CA bundle for a private ClickHouse CA")
    clickhouse_ttl_days: int = Field(
        1095,
        ge=1,
        le=7300,
        description="days ClickHouse keeps rows (table TTL, set when tables are created)",
    )
    clickhouse_cluster: str = Field(
        "", description="ClickHouse cluster for `db migrate` (ON CLUSTER, Replicated tables); empty: one node"
    )

    # --- KPIs (station ranking cards) ------------------------------------------------------------
    kpi_yellow_overdue_feedback_rate: float = Field(
        0.05, ge=0, le=1, description="a station above this overdue feedback rate gets a yellow card"
    )
    kpi_red_overdue_feedback_rate: float = Field(
        0.10, ge=0, le=1, description="a station above this overdue feedback rate gets a red card"
    )
    kpi_yellow_step_compliance: float = Field(
        0.95, ge=0, le=1, description="a station below this step compliance gets a yellow card"
    )
    kpi_red_step_compliance: float = Field(
        0.90, ge=0, le=1, description="a station below this step compliance gets a red card"
    )

    # --- Alerting and metrics --------------------------------------------------------------------
    alertmanager_url: str = Field(
        "http://127.0.0.1:9093",
        description=(
            "Alertmanager URL for the pager; for a high-availability cluster, every instance's URL,"
            " comma-separated (each alert goes to all of them)"
        ),
    )
    grafana_url: str | None = Field(
        None,
        description="Grafana base URL for task links in pages, e.g. https://grafana.example (unset: no link)",
    )
    metrics_port: int = Field(6066, ge=1, le=65535, description="worker HTTP port (/metrics, API)")

    # --- Pseudonymisation ------------------------------------------------------------------------
    hmac_key: SecretStr | None = Field(
        None,
        description="HMAC-SHA256 key for person keys (secret); unset: generated once into <home>/secrets/",
    )
    schema_registry_url: str | None = Field(None, description="Confluent schema registry (unset: local ids)")

    # --- Ingest ----------------------------------------------------------------------------------
    api_tokens: SecretStr | None = Field(
        None, description="bearer tokens accepted by the HTTP ingest API, comma-separated (secret)"
    )
    api_max_body_bytes: int = Field(1_048_576, ge=1024, description="largest HTTP ingest request body")
    api_max_batch: int = Field(1000, ge=1, description="most records in one HTTP ingest request")
    ingest_workers: int = Field(
        0, ge=0, le=64, description="processes validating file ingest (0: one per CPU core; 1: in-process)"
    )
    ingest_max_skew_seconds: int = Field(300, ge=0, description="how far in the future a timestamp may be")
    ingest_max_age_days: int = Field(400, ge=1, description="how old a timestamp may be")

    # --- Worker ----------------------------------------------------------------------------------
    worker_data_dir: Path | None = Field(
        None, description="RocksDB table state of this worker process (unset: <home>/worker)"
    )
    worker_standby_replicas: int = Field(1, ge=0, le=5, description="standby copies of each table partition")
    worker_rocksdb_write_buffer_mb: int = Field(
        16,
        ge=1,
        le=1024,
        description="RocksDB memtable size (MB) of each table partition, at most two; Faust's default: 64",
    )
    worker_rocksdb_block_cache_mb: int = Field(
        32,
        ge=1,
        le=65536,
        description="RocksDB block cache (MB) of each table partition; Faust's default: 2048 + 500",
    )
    dedup_retention_hours: float = Field(168, gt=0, description="how long an exact duplicate is recognised")
    merge_window_hours: float = Field(24, gt=0, description="warnings within this of a task join it")
    merge_window_hours_by_level: dict[str, float] = Field(
        default_factory=dict, description='per-level merge windows as JSON, e.g. {"CRITICAL": 6}'
    )
    victimisation_window_days: float = Field(30, gt=0, description="a victim case this soon after a warning")
    worker_session_timeout_seconds: float = Field(
        20, ge=6, le=300, description="how soon a dead worker's partitions move to another worker"
    )
    worker_stages: list[Literal["dedup", "resolver", "sla", "pager", "sink"]] = Field(
        ["dedup", "resolver", "sla", "pager"],  # pydantic copies a mutable default per instance
        description='stages this worker runs, as JSON, e.g. ["dedup"]: one stage per process scales apart; '
        '["sink"] runs the ClickHouse sink, which must run alone (its own consumer group)',
    )
    worker_event_loop: Literal["uvloop", "asyncio"] = Field(
        "uvloop", description="the worker's event loop (uvloop is faster; asyncio for debugging)"
    )
    # --- SLA stage -------------------------------------------------------------------------------
    sla_policy: Path | None = Field(
        None, description="SLA policy file (unset: <deploy_dir>/config/sla.yaml); read at worker start"
    )
    sla_clock: Literal["live", "event"] = Field(
        "live", description="live: wall clock; event: stream time, for replaying past data (--clock)"
    )
    sla_allowed_lateness_seconds: float = Field(
        300, ge=0, description="event clock: how far behind the latest event time stream time runs"
    )
    sla_idle_input_seconds: float = Field(
        5, gt=0, description="event clock: an input silent this long stops holding stream time back"
    )
    sla_unknown_task_grace_seconds: float = Field(
        300, gt=0, description="how long an event for an unknown task is held before it is dead-lettered"
    )
    sla_closed_retention_days: float = Field(
        30, gt=0, description="how long a task's SLA state is kept after its last clock stopped"
    )
    sla_timer_interval_seconds: float = Field(
        0.1, gt=0, le=10, description="how often each worker's SLA timer looks for due deadlines"
    )
    agent_max_attempts: int = Field(3, ge=1, le=20, description="tries per event before dead-lettering")

    # --- Resolver stage (task events addressed by warning) -------------------------------------------
    resolver_grace_seconds: float = Field(
        900,
        gt=0,
        description="how long an event addressed by alert_ref waits for its warning's dedup verdict before "
        "it is dead-lettered as unknown_alert_ref; must exceed the dedup stage's worst tolerated lag",
    )
    resolver_retention_days: float = Field(
        30, gt=0, description="how long an alert ref stays resolvable after the dedup stage decided it"
    )
    resolver_timer_interval_seconds: float = Field(
        1.0, gt=0, le=60, description="how often each worker's resolver timer looks for expired holds"
    )

    # --- Pager stage (docs/operations.md, "Paging") ------------------------------------------------
    pager_region: str = Field(
        "",
        description="region label of every SLA page; must equal the workers' Prometheus `region` target "
        "label (empty: each task's region code)",
    )
    pager_at_risk_levels: list[Literal["CRITICAL", "HIGH", "MEDIUM", "LOW"]] = Field(
        ["CRITICAL", "HIGH"],
        description="levels whose AT_RISK_75 warnings are paged (RiskAlertSlaAtRisk), as JSON; [] for none",
    )
    pager_timer_interval_seconds: float = Field(
        1.0, gt=0, le=60, description="how often each worker's pager pushes new, resolved and due alerts"
    )
    pager_resend_seconds: float = Field(
        60,
        gt=0,
        le=3600,
        description="how often a firing page is pushed again; Alertmanager resolves it 4 intervals after "
        "the last push",
    )
    pager_request_timeout_seconds: float = Field(
        5, gt=0, le=60, description="timeout of one POST to Alertmanager"
    )
    pager_retry_max_seconds: float = Field(
        30, gt=0, le=600, description="longest pause between the pager's retries while Alertmanager fails"
    )
    pager_unknown_task_grace_seconds: float = Field(
        5,
        ge=0,
        le=300,
        description="how long a page whose task has not arrived yet waits for its masked name",
    )
    pager_resolved_retention_seconds: float = Field(
        3600,
        gt=0,
        description="how long a closed task's pager entry is kept after its last change (its resolutions "
        "are pushed meanwhile)",
    )
    pager_idle_retention_days: float = Field(
        30,
        gt=0,
        description="how long the pager keeps an open task without firing pages after its last input",
    )

    # --- ClickHouse sink (`riskalert worker --stages sink`) ---------------------------------------
    sink_batch_rows: int = Field(
        10_000, ge=1, le=1_000_000, description="most records the sink inserts in one batch per partition"
    )
    sink_batch_seconds: float = Field(
        1.0, gt=0, le=60, description="longest the sink waits to fill a batch before inserting what it has"
    )
    sink_insert_threads: int = Field(
        2,
        ge=1,
        le=16,
        description="batches of one round the sink inserts at once, each over its own ClickHouse client",
    )
    sink_retry_max_seconds: float = Field(
        30, gt=0, le=600, description="longest pause between the sink's retries while ClickHouse fails"
    )
    sink_metrics_port: int = Field(
        6067, ge=1, le=65535, description="sink worker HTTP port (/metrics, /v1/kpi)"
    )
    sink_migrate_on_start: bool = Field(
        True, description="apply pending ClickHouse migrations when the sink worker starts"
    )
    sink_fault_file: Path | None = Field(
        None,
        description=(
            "testing only: while this file exists sink writes fail as if ClickHouse did; empty: every"
            " write, else only writes to the tables it names (one per line)"
        ),
    )

    # --- Local stack (started by `riskalert stack up`) -------------------------------------------
    home: Path = Field(Path(".local"), description="data directory for the local stack, state and secrets")
    deploy_dir: Path = Field(PROJECT_ROOT / "deploy", description="directory holding the shipped configs")
    kafka_port: int = Field(9092, ge=1, le=65535, description="local Kafka broker port")
    kafka_controller_port: int = Field(9098, ge=1, le=65535, description="local KRaft controller port")
    kafka_heap: str = Field("768m", description="local Kafka JVM heap (-Xmx/-Xms)")
    prometheus_port: int = Field(9090, ge=1, le=65535, description="local Prometheus port")
    alertmanager_port: int = Field(9093, ge=1, le=65535, description="local Alertmanager port")

    @field_validator("home", "deploy_dir", "worker_data_dir", "sla_policy", "sink_fault_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @field_validator("merge_window_hours_by_level")
    @classmethod
    def _check_levels(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - {"CRITICAL", "HIGH", "MEDIUM", "LOW"}
        if unknown:
            raise ValueError(f"unknown levels {sorted(unknown)}; use CRITICAL, HIGH, MEDIUM, LOW")
        if any(hours <= 0 for hours in value.values()):
            raise ValueError("merge windows must be positive")
        return value

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"{server.strip()!r} is not host:port")
        return value

    @field_validator("alertmanager_url")
    @classmethod
    def _check_http_urls(cls, value: str) -> str:
        urls = [url.strip() for url in value.split(",")]
        if not all(urls):
            raise ValueError(f"{value!r}: an empty URL in the list")
        for url in urls:
            cls._check_http_url(url)
        return value

    @field_validator("schema_registry_url", "grafana_url")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        parts = urlsplit(value) if value is not None else None
        if parts is not None and (parts.scheme not in ("http", "https") or not parts.netloc):
            raise ValueError(f"{value!r} is not an http(s):// URL")
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        if not set(value) <= allowed:
            raise ValueError("only letters, digits, '.', '_' and '-' are allowed in topic names")
        return value

    @field_validator("clickhouse_cluster")
    @classmethod
    def _check_cluster(cls, value: str) -> str:
        if value and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise ValueError(f"{value!r} is not a cluster name (letters, digits and '_')")
        return value

    @model_validator(mode="after")
    def _check_kpi_cards(self) -> Settings:
        if self.kpi_red_overdue_feedback_rate < self.kpi_yellow_overdue_feedback_rate:
            red, yellow = (
                env_name("kpi_red_overdue_feedback_rate"),
                env_name("kpi_yellow_overdue_feedback_rate"),
            )
            raise ValueError(f"{red} must not be below {yellow}")
        if self.kpi_red_step_compliance > self.kpi_yellow_step_compliance:
            red, yellow = env_name("kpi_red_step_compliance"), env_name("kpi_yellow_step_compliance")
            raise ValueError(f"{red} must not be above {yellow}")
        return self

    @model_validator(mode="after")
    def _check_sink_alone(self) -> Settings:
        # The sink is its own consumer group: while ClickHouse is down it pauses, and in a shared group
        # its stalled stream would stall the dedup and SLA stages reading the same topics.
        if "sink" in self.worker_stages and len(set(self.worker_stages)) > 1:
            raise ValueError(
                f'{env_name("worker_stages")}: "sink" runs in a worker of its own, e.g. ["sink"]'
            )
        return self

    @model_validator(mode="after")
    def _check_cross_fields(self) -> Settings:
        try:
            parse_clickhouse_dsn(self.clickhouse_dsn.get_secret_value(), self.home)
        except ValueError as exc:
            raise ValueError(f"{env_name('clickhouse_dsn')}: {exc}") from exc
        if self.kafka_security_protocol.startswith("SASL_"):
            missing = [
                name
                for name in ("kafka_sasl_mechanism", "kafka_sasl_username", "kafka_sasl_password")
                if getattr(self, name) is None
            ]
            if missing:
                names = ", ".join(env_name(name) for name in missing)
                raise ValueError(f"{self.kafka_security_protocol} needs {names}")
        ports = {
            "kafka_port": self.kafka_port,
            "kafka_controller_port": self.kafka_controller_port,
            "prometheus_port": self.prometheus_port,
            "alertmanager_port": self.alertmanager_port,
            "metrics_port": self.metrics_port,
            "sink_metrics_port": self.sink_metrics_port,
        }
        if len(set(ports.values())) != len(ports):
            raise ValueError(f"local stack ports must differ: {ports}")
        return self

    # --- Derived values --------------------------------------------------------------------------
    @cached_property
    def clickhouse(self) -> ClickHouseTarget:
        """The parsed ClickHouse target."""
        return parse_clickhouse_dsn(self.clickhouse_dsn.get_secret_value(), self.home)

    @property
    def sla_policy_path(self) -> Path:
        """The SLA policy file in effect."""
        return self.sla_policy or self.deploy_dir / "config" / "sla.yaml"

    def topic(self, name: str) -> str:
        """The full topic name for a logical topic name, with the configured prefix."""
        return f"{self.topic_prefix}{name}"

    def kafka_client_config(self) -> dict[str, str | int | float | bool]:
        """librdkafka (confluent-kafka) connection settings, secrets included: never log the result."""
        config: dict[str, str | int | float | bool] = {
            "bootstrap.servers": self.kafka_bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
        }
        optional = {
            "sasl.mechanism": self.kafka_sasl_mechanism,
            "sasl.username": self.kafka_sasl_username,
            "sasl.password": _reveal(self.kafka_sasl_password),
            "ssl.ca.location": self.kafka_ssl_cafile,
            "ssl.certificate.location": self.kafka_ssl_certfile,
            "ssl.key.location": self.kafka_ssl_keyfile,
            "ssl.key.password": _reveal(self.kafka_ssl_key_password),
        }
        config.update({key: str(value) for key, value in optional.items() if value is not None})
        return config

    def api_token_list(self) -> list[str]:
        """The accepted bearer tokens; empty means the HTTP API refuses every request."""
        if self.api_tokens is None:
            return []
        return [token.strip() for token in self.api_tokens.get_secret_value().split(",") if token.strip()]

    def hmac_key_bytes(self) -> bytes:
        """The pseudonymisation key: the configured one, or the local one, generated on first use.

        The local key lives in `<home>/secrets/hmac.key` (mode 0600). It is never printed or logged.
        """
        if self.hmac_key is not None:
            key = self.hmac_key.get_secret_value().encode()
            if len(key) < 16:
                raise SettingsError(f"{env_name('hmac_key')} is too short: use at least 16 bytes")
            return key
        return _local_hmac_key(self.home / "secrets" / "hmac.key")


def _reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def _local_hmac_key(path: Path) -> bytes:
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_bytes(HMAC_KEY_BYTES)
    # O_EXCL: if two processes race on first use, one wins and the other reads the winner's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex())
    return key


def env_name(field: str) -> str:
    """The environment variable that sets a settings field."""
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning validation errors into one `SettingsError` naming each variable.

    Raises:
        SettingsError: one line per bad variable, e.g. `RISKALERT_CLICKHOUSE_DSN: unsupported scheme 'ftp'`.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # keyword overrides are field values
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{env_name(field)}: {message}" if field else message)
    return "invalid configuration:\n  " + "\n  ".join(lines)


def env_help() -> list[tuple[str, str, str]]:
    """(variable, meaning, default) for every setting, for `riskalert --help`; secrets show no value."""
    rows = []
    for name, info in Settings.model_fields.items():
        default = info.default
        if default is None:
            shown = "(unset)"
        elif isinstance(default, SecretStr):
            shown = default.get_secret_value() if name == "clickhouse_dsn" else "(secret)"
        else:
            shown = str(default)
        rows.append((env_name(name), info.description or "", shown))
    return rows
