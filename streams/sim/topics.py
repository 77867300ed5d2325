"""The demo's Kafka side: a fresh topic set per run, with the worker's table changelogs up front."""

from __future__ import annotations

import re

from confluent_kafka.admin import AdminClient

from streams.settings import Settings

DEMO_PREFIX = re.compile(r"^demo-\d{8}T\d{6}\.")


def create_changelogs(settings: Settings) -> int:
    """Create the worker's table changelog topics as Faust declares them, before the worker starts.

    A worker that creates them itself at start may still hold stale metadata for them when the first
    victim record arrives a second later, and Faust then refuses the record (PartitionsMismatch
    between the table's source topic and its changelog); the record is dead-lettered. Topics that
    exist at start are in the worker's first metadata.
    """
    from confluent_kafka.admin import NewTopic  # type: ignore[attr-defined]  # not in __all__

    from streams.app import create_app

    # Every stage the demo runs, across its worker processes.
    every_stage = settings.model_copy(update={"worker_stages": ["dedup", "resolver", "sla", "pager"]})
    tables = create_app(every_stage).app.tables.values()
    topics = [
        NewTopic(
            table.changelog_topic_name,
            num_partitions=table.partitions or settings.topic_partitions,
            replication_factor=settings.topic_replication,
            config={"cleanup.policy": "compact"},
        )
        for table in tables
    ]
    admin = AdminClient(settings.kafka_client_config())
    for future in admin.create_topics(topics, request_timeout=60).values():
        future.result(timeout=60)
    return len(topics)


def delete_old_demo_topics(settings: Settings) -> int:
    """Delete the topics of earlier demo runs (prefix `demo-<UTC time>.`); returns how many."""
    admin = AdminClient(settings.kafka_client_config())
    old = [name for name in admin.list_topics(timeout=30).topics if DEMO_PREFIX.match(name)]
    if old:
        for future in admin.delete_topics(old, request_timeout=60).values():
            future.result(timeout=60)
    return len(old)
