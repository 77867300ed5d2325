"""The demo's Kafka side: a fresh topic set per run, with the worker's table changelogs up front."""

from __future__ import annotations

import re

from confluent_kafka.admin import AdminClient

from streams.kafka_admin import ensure_changelogs
from streams.settings import Settings

DEMO_PREFIX = re.compile(r"^demo-\d{8}T\d{6}\.")


def create_changelogs(settings: Settings) -> int:
    """Create the table changelog topics of every stage the demo runs (across its worker processes),
    before the workers start (see `streams.kafka_admin.ensure_changelogs`); returns how many."""
    from streams.app import create_app

    every_stage = settings.model_copy(update={"worker_stages": ["dedup", "resolver", "sla", "pager"]})
    return len(ensure_changelogs(settings, create_app(every_stage).app.tables.values()))


def delete_old_demo_topics(settings: Settings) -> int:
    """Delete the topics of earlier demo runs (prefix `demo-<UTC time>.`); returns how many."""
    admin = AdminClient(settings.kafka_client_config())
    old = [name for name in admin.list_topics(timeout=30).topics if DEMO_PREFIX.match(name)]
    if old:
        for future in admin.delete_topics(old, request_timeout=60).values():
            future.result(timeout=60)
    return len(old)
