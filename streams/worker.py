"""`riskalert worker`: run the Faust stages, or the ClickHouse sink, until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import threading

import faust
import mode.loop
from aiohttp import web
from clickhouse_connect.driver.client import Client
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from streams.app import app_id, create_app, runs_sink
from streams.kafka_admin import ensure_changelogs, ensure_topics
from streams.settings import Settings
from streams.topics import ALL_TOPICS

log = logging.getLogger(__name__)
LOG_FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s"


def run(settings: Settings, loglevel: str = "INFO") -> None:
    """Create missing topics, then run the worker; returns when the worker has shut down.

    Faust's worker handles SIGTERM and SIGINT: agents finish the event in hand, offsets are committed
    after the producer is flushed, and tables are closed. The sink finishes its round likewise.
    """
    report = ensure_topics(settings, ALL_TOPICS)
    for drift in report.drift:
        log.warning(
            "topic %s: %s is %s, declared %s", drift.topic, drift.setting, drift.actual, drift.declared
        )
    if runs_sink(settings):
        run_sink(settings, loglevel)
        return
    if settings.worker_event_loop == "uvloop":
        # Must come before the app creates its loop.
        mode.loop.use("uvloop")
    pipeline = create_app(settings)
    for name in ensure_changelogs(settings, pipeline.app.tables.values()):
        log.info("created table changelog topic %s", name)
    worker = faust.Worker(pipeline.app, loglevel=loglevel, redirect_stdouts=False, override_logging=True)
    worker.execute_from_commandline()


def run_sink(settings: Settings, loglevel: str = "INFO") -> None:
    """The sink worker: owns the ClickHouse target (the chDB path), serves /metrics and /v1/kpi."""
    from streams.agents import sink

    logging.basicConfig(level=loglevel.upper(), format=LOG_FORMAT)
    client = sink_client(settings)
    serve_http(settings)
    sink.run(settings, client, app_id(settings))
    client.close()


def sink_client(settings: Settings) -> Client:
    """Connect to ClickHouse (taking the chDB path: this process owns it) and apply pending migrations.

    Raises:
        ClickHouseError, MigrationError: the worker does not start; the message says why.
    """
    from streams.db.client import connect
    from streams.db.migrate import migrate

    if settings.sink_migrate_on_start:
        bootstrap = connect(settings, use_database=False)
        report = migrate(
            bootstrap,
            database=settings.clickhouse.database,
            ttl_days=settings.clickhouse_ttl_days,
            cluster=settings.clickhouse_cluster,
        )
        for name in report.applied:
            log.info("sink: applied ClickHouse migration %s", name)
        bootstrap.close()
    return connect(settings)


def serve_http(settings: Settings) -> threading.Thread:
    """Serve /metrics and the KPI API on 127.0.0.1:RISKALERT_SINK_METRICS_PORT from a daemon thread.

    Raises:
        OSError: the port is taken (the worker does not start).
    """
    app = web.Application()
    app.router.add_get("/metrics", _metrics)
    _mount_kpi(app, settings)
    runner = web.AppRunner(app, access_log=None)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", settings.sink_metrics_port).start())
    thread = threading.Thread(target=loop.run_forever, name="http", daemon=True)
    thread.start()
    return thread


async def _metrics(request: web.Request) -> web.Response:
    # aiohttp refuses a charset in content_type, so the full Prometheus header goes in headers.
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def _mount_kpi(app: web.Application, settings: Settings) -> None:
    try:
        from streams.kpi.http import MOUNT_PREFIX, create_kpi_subapp
    except ImportError:  # the KPI API arrives with the KPI work; the sink runs without it
        return
    from streams.db.client import connect

    app.add_subapp(MOUNT_PREFIX, create_kpi_subapp(settings, lambda: connect(settings)))
