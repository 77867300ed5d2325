"""`riskalert worker`: run the Faust app until SIGTERM or SIGINT, then stop gracefully."""

from __future__ import annotations

import logging

import faust
import mode.loop
from clickhouse_connect.driver.client import Client

from streams.app import create_app, runs_sink
from streams.kafka_admin import ensure_topics
from streams.settings import Settings
from streams.topics import ALL_TOPICS

log = logging.getLogger(__name__)


def run(settings: Settings, loglevel: str = "INFO") -> None:
    """Create missing topics, then run the worker; returns when the worker has shut down.

    Faust's worker handles SIGTERM and SIGINT: agents finish the event in hand, offsets are committed
    after the producer is flushed, and tables are closed.
    """
    report = ensure_topics(settings, ALL_TOPICS)
    for drift in report.drift:
        log.warning(
            "topic %s: %s is %s, declared %s", drift.topic, drift.setting, drift.actual, drift.declared
        )
    if settings.worker_event_loop == "uvloop":
        # Must come before the app creates its loop.
        mode.loop.use("uvloop")
    clickhouse = _sink_client(settings) if runs_sink(settings) else None
    pipeline = create_app(settings, clickhouse=clickhouse)
    pipeline.app.conf.datadir.mkdir(parents=True, exist_ok=True)  # faust makes only the last level
    worker = faust.Worker(pipeline.app, loglevel=loglevel, redirect_stdouts=False, override_logging=True)
    worker.execute_from_commandline()


def _sink_client(settings: Settings) -> Client:
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
    client = connect(settings)
    log.info("sink: writing to %s", settings.clickhouse.redacted())
    return client
