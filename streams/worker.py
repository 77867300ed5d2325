"""`riskalert worker`: run the Faust app until SIGTERM or SIGINT, then stop gracefully."""

from __future__ import annotations

import logging

import faust
import mode.loop

from streams.app import create_app
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
    pipeline = create_app(settings)
    worker = faust.Worker(pipeline.app, loglevel=loglevel, redirect_stdouts=False, override_logging=True)
    worker.execute_from_commandline()
