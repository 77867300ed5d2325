"""The single Faust app: its topics, tables and agents, built from the settings.

`create_app(settings)` is called once per worker process (`riskalert worker`). The app id carries the
topic prefix, so a prefixed deployment (or test) has its own consumer group and changelog topics.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams import faust_sensor, metrics, policy_reload
from streams.clock import Clock, make_clock
from streams.codec import AvroCodec, default_codec
from streams.logic.dedup import DAY_MS, HOUR_MS, DedupConfig
from streams.logic.sla_policy import PolicyFile
from streams.logic.tasks import StageConfig
from streams.outputs import Outputs, OutputSink, new_app
from streams.settings import Settings
from streams.topics import (
    TASKS,
    TASKS_EVENTS,
)

APP_NAME = "riskalert"


@dataclass(frozen=True)
class Pipeline:
    """What the agents share: settings, codec, outputs, the dedup windows, the SLA policy and clock."""

    app: faust.App
    settings: Settings
    codec: AvroCodec
    outputs: OutputSink
    dedup: DedupConfig
    policy: PolicyFile  # the SLA policy in force: `policy.current`; reloadable (streams.policy_reload)
    clock: Clock
    sla: StageConfig


def dedup_config(settings: Settings) -> DedupConfig:
    """The dedup windows the settings ask for."""
    return DedupConfig(
        duplicate_retention_ms=int(settings.dedup_retention_hours * HOUR_MS),
        merge_window_ms=int(settings.merge_window_hours * HOUR_MS),
        merge_window_ms_by_level={
            level: int(hours * HOUR_MS) for level, hours in settings.merge_window_hours_by_level.items()
        },
        victimisation_window_ms=int(settings.victimisation_window_days * DAY_MS),
    )


def sla_config(settings: Settings) -> StageConfig:
    """The SLA stage's windows the settings ask for."""
    return StageConfig(
        unknown_task_grace_ms=int(settings.sla_unknown_task_grace_seconds * 1000),
        closed_retention_ms=int(settings.sla_closed_retention_days * DAY_MS),
    )


def create_app(
    settings: Settings,
    *,
    store: str = "rocksdb://",
    http_api: bool = True,
    clock: Clock | None = None,
    outputs: OutputSink | None = None,
) -> Pipeline:
    """Build the app with every agent registered; the caller runs it with a Faust worker.

    Args:
        settings: everything configurable.
        store: the table store; `memory://` for agent tests with Faust's `test_context()`.
        http_api: mount the HTTP ingest API on the worker's web server.
        clock: the SLA clock; by default the one `settings.sla_clock` names.
        outputs: where agents produce; by default librdkafka flushed before every commit.

    Raises:
        PolicyError: the SLA policy file is missing or invalid (the worker does not start).
    """
    policy = PolicyFile(settings.sla_policy_path)
    if clock is None:
        clock = make_clock(
            settings.sla_clock,
            int(settings.sla_allowed_lateness_seconds * 1000),
            sources=(settings.topic(TASKS.name), settings.topic(TASKS_EVENTS.name)),
            idle_ms=int(settings.sla_idle_input_seconds * 1000),
        )
    outputs = outputs or Outputs(settings)
    app = new_app(app_id(settings), outputs, **{**_config(settings), "store": store})
    _metrics_page(app)
    faust_sensor.hook(app)
    policy_reload.attach(app, policy)
    if http_api:
        _mount_ingest_api(app, settings)
    pipeline = Pipeline(
        app,
        settings,
        default_codec(),
        outputs,
        dedup_config(settings),
        policy,
        clock,
        sla_config(settings),
    )
    # Imported here: the agent modules register on the app they are given.
    from streams.agents import dedup, pager, resolver, sla

    if runs_sink(settings):
        raise ValueError("the sink is not a Faust stage: streams.worker runs it (streams.agents.sink.run)")
    if "dedup" in settings.worker_stages:
        dedup.attach(pipeline)
    if "resolver" in settings.worker_stages:
        resolver.attach(pipeline)
    if "sla" in settings.worker_stages:
        sla.attach(pipeline)
    if "pager" in settings.worker_stages:
        pager.attach(pipeline)
    _lag_metric(pipeline)
    return pipeline


def runs_sink(settings: Settings) -> bool:
    """Whether this worker is the ClickHouse sink (a worker of its own; see Settings.worker_stages)."""
    return "sink" in settings.worker_stages


def app_id(settings: Settings) -> str:
    """The Faust app id, which is also the consumer group: the sink has a group of its own."""
    name = f"{APP_NAME}-sink" if runs_sink(settings) else APP_NAME
    return f"{settings.topic_prefix}{name}"


LAG_INTERVAL_SECONDS = 5.0


def _lag_metric(pipeline: Pipeline) -> None:
    """Export each actively owned input partition's lag (RiskAlertConsumerLagHigh reads it)."""
    from streams.agents import dedup, pager, resolver, sla
    from streams.agents.common import committed_offset

    # The pager reads `tasks` too (one group, one committed offset): listed first, `tasks` stays sla's.
    modules = (pager, dedup, resolver, sla)
    stages = {pipeline.settings.topic(name): stage.STAGE for stage in modules for name in stage.INPUTS}

    async def consumer_lag() -> None:
        metrics.CONSUMER_LAG.clear()  # partitions revoked since the last round disappear
        for tp in pipeline.app.assignor.assigned_actives():
            stage = stages.get(tp.topic)
            committed = committed_offset(pipeline.app, tp)
            highwater = pipeline.app.consumer.highwater(tp)
            if stage is None or highwater is None:
                continue
            lag = max(0, highwater - (committed or 0))
            metrics.CONSUMER_LAG.labels(stage, tp.topic, str(tp.partition)).set(lag)

    pipeline.app.timer(LAG_INTERVAL_SECONDS, name="consumer_lag")(consumer_lag)


def _metrics_page(app: faust.App) -> None:
    # riskalert's own metrics (streams/metrics.py) and Faust's Prometheus sensor's (riskalert_faust_*,
    # streams/faust_sensor.py), all in the default registry.
    @app.page("/metrics")
    async def metrics(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        # aiohttp refuses a charset in content_type, so the full Prometheus header goes in headers.
        faust_sensor.sync(app)
        return web.bytes(generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _mount_ingest_api(app: faust.App, settings: Settings) -> None:
    # The HTTP ingest API shares the worker's web server (RISKALERT_METRICS_PORT).
    from streams.ingest.http import API_PREFIX, create_ingest_subapp

    # faust's aiohttp driver exposes its aiohttp Application as `web_app`; the base type does not declare it.
    app.web.web_app.add_subapp(API_PREFIX, create_ingest_subapp(settings))  # type: ignore[attr-defined]


def _config(settings: Settings) -> dict[str, Any]:
    data_dir = settings.worker_data_dir or settings.home / "worker"
    return {
        "broker": [f"kafka://{server.strip()}" for server in settings.kafka_bootstrap_servers.split(",")],
        "broker_credentials": _credentials(settings),
        "store": "rocksdb://",
        "datadir": str(data_dir),
        "table_standby_replicas": settings.worker_standby_replicas,
        "topic_partitions": settings.topic_partitions,
        "topic_replication_factor": settings.topic_replication,
        "producer_acks": -1,
        # Batch outputs: with no linger every record is its own produce request, and the broker shares
        # the machine. 10 ms of linger costs nothing next to minute-scale SLAs.
        "producer_linger": 0.010,
        "producer_max_batch_size": 1_048_576,
        "broker_session_timeout": settings.worker_session_timeout_seconds,
        "broker_heartbeat_interval": min(3.0, settings.worker_session_timeout_seconds / 3),
        "consumer_auto_offset_reset": "earliest",
        "web_bind": "127.0.0.1",
        "web_port": settings.metrics_port,
        "web_host": "127.0.0.1",
        # Faust's own pages that expose routing and table contents stay off: they would serve state.
        "web_router_enabled": False,
        "web_tables_enabled": False,
        "web_graph_enabled": False,
        "web_stats_enabled": False,
        "web_metrics_enabled": False,
        "web_in_thread": False,
        # Replay holds inputs unacked in the SLA stage's reorder buffer until stream time reaches them;
        # waiting for every unacked event would block shutdown and rebalances for good. Every stage is
        # idempotent on re-delivery (replays re-emit what they emitted), so nothing is lost by it.
        "stream_wait_empty": settings.sla_clock != "event",
    }


def _credentials(settings: Settings) -> faust.auth.Credentials | None:
    protocol = settings.kafka_security_protocol
    context = None
    if protocol in ("SSL", "SASL_SSL"):
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
        )
        if settings.kafka_ssl_certfile and settings.kafka_ssl_keyfile:
            password = settings.kafka_ssl_key_password
            context.load_cert_chain(
                str(settings.kafka_ssl_certfile),
                str(settings.kafka_ssl_keyfile),
                password.get_secret_value() if password else None,
            )
    if protocol.startswith("SASL_"):
        assert settings.kafka_sasl_password is not None  # enforced by the settings validator
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password.get_secret_value(),
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context) if context is not None else None
