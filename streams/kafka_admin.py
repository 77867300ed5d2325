"""Create the declared topics and report drift, through confluent-kafka's AdminClient.

Existing topics are never altered: a topic whose partitions or configs differ from its declaration is
reported, because changing partitions of a keyed topic moves keys and breaks co-partitioning.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, but not in __all__
    AdminClient,
    ConfigResource,
    NewTopic,
)

from streams.errors import TopicError
from streams.settings import Settings
from streams.topics import TopicSpec

ADMIN_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class TopicDrift:
    """One difference between a declared topic and the broker's."""

    topic: str
    setting: str
    declared: str
    actual: str


@dataclass(frozen=True)
class TopicReport:
    """What `riskalert topics create` did."""

    created: list[str]
    unchanged: list[str]
    drift: list[TopicDrift]


def topic_drift(
    name: str, spec: TopicSpec, settings: Settings, partitions: int, configs: dict[str, str]
) -> list[TopicDrift]:
    """Differences between a declaration and what the broker reports for that topic."""
    drift = []
    declared_partitions = spec.partition_count(settings)
    if partitions != declared_partitions:
        drift.append(TopicDrift(name, "partitions", str(declared_partitions), str(partitions)))
    for key, value in spec.configs().items():
        actual = configs.get(key, "(unset)")
        if actual != value:
            drift.append(TopicDrift(name, key, value, actual))
    return drift


def ensure_topics(settings: Settings, specs: Iterable[TopicSpec]) -> TopicReport:
    """Create missing topics; compare existing ones with their declaration without touching them.

    Raises:
        TopicError: when the broker cannot be reached or refuses a creation.
    """
    admin = AdminClient(settings.kafka_client_config())
    specs = list(specs)
    existing = _existing_topics(admin)
    missing = [spec for spec in specs if settings.topic(spec.name) not in existing]
    _create(admin, settings, missing)
    present = [spec for spec in specs if spec not in missing]
    drift = _describe_drift(admin, settings, present)
    drifted = {item.topic for item in drift}
    return TopicReport(
        created=[settings.topic(spec.name) for spec in missing],
        unchanged=[settings.topic(s.name) for s in present if settings.topic(s.name) not in drifted],
        drift=drift,
    )


def ensure_changelogs(settings: Settings, tables: Iterable[Any]) -> list[str]:
    """Create the missing changelog topics of a Faust app's tables (compacted); returns those created.

    Faust creates a table's changelog when its worker starts, and a worker that made it itself may
    still hold metadata without it when the first record for the table arrives: Faust then refuses the
    record (PartitionsMismatch between the table's source topic and its changelog) and the stage
    dead-letters it. Changelogs that exist before the worker starts are in its first metadata.

    Raises:
        TopicError: when the broker cannot be reached or refuses a creation.
    """
    admin = AdminClient(settings.kafka_client_config())
    existing = _existing_topics(admin)
    missing = [
        NewTopic(
            table.changelog_topic_name,
            num_partitions=table.partitions or settings.topic_partitions,
            replication_factor=settings.topic_replication,
            config={"cleanup.policy": "compact"},
        )
        for table in tables
        if table.changelog_topic_name not in existing
    ]
    if not missing:
        return []
    for name, future in admin.create_topics(missing, request_timeout=ADMIN_TIMEOUT_SECONDS).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent creator won: fine
                raise TopicError(f"topics: cannot create {name}: {exc}") from exc
    names = [topic.topic for topic in missing]
    _wait_for_leaders(admin, names)
    return names


def _existing_topics(admin: AdminClient) -> dict[str, int]:
    try:
        metadata = admin.list_topics(timeout=ADMIN_TIMEOUT_SECONDS)
    except KafkaException as exc:
        raise TopicError(f"topics: cannot list topics: {exc}") from exc
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()}


def _create(admin: AdminClient, settings: Settings, specs: list[TopicSpec]) -> None:
    if not specs:
        return
    new_topics = [
        NewTopic(
            settings.topic(spec.name),
            num_partitions=spec.partition_count(settings),
            replication_factor=settings.topic_replication,
            config=spec.configs(),
        )
        for spec in specs
    ]
    for name, future in admin.create_topics(new_topics, request_timeout=ADMIN_TIMEOUT_SECONDS).items():
        try:
            future.result()
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":  # a concurrent creator won: fine
                raise TopicError(f"topics: cannot create {name}: {exc}") from exc
    _wait_for_leaders(admin, [topic.topic for topic in new_topics])


def _wait_for_leaders(admin: AdminClient, names: list[str]) -> None:
    """Return once every partition of the new topics has a leader, so the topics are usable at once."""
    deadline = time.monotonic() + ADMIN_TIMEOUT_SECONDS
    pending = set(names)
    while pending and time.monotonic() < deadline:
        topics = admin.list_topics(timeout=ADMIN_TIMEOUT_SECONDS).topics
        pending = {name for name in pending if not _has_leaders(topics.get(name))}
        if pending:
            time.sleep(0.1)
    if pending:
        raise TopicError(
            f"topics: no partition leaders after {ADMIN_TIMEOUT_SECONDS:.0f}s for {sorted(pending)}"
        )


def _has_leaders(topic: Any) -> bool:
    return topic is not None and topic.error is None and all(p.leader >= 0 for p in topic.partitions.values())


def _describe_drift(admin: AdminClient, settings: Settings, specs: list[TopicSpec]) -> list[TopicDrift]:
    if not specs:
        return []
    partitions = _existing_topics(admin)
    resources = [ConfigResource(ConfigResource.Type.TOPIC, settings.topic(spec.name)) for spec in specs]
    futures = admin.describe_configs(resources, request_timeout=ADMIN_TIMEOUT_SECONDS)
    drift = []
    for spec, resource in zip(specs, resources, strict=True):
        name = settings.topic(spec.name)
        try:
            entries = futures[resource].result()
        except KafkaException as exc:
            raise TopicError(f"topics: cannot describe {name}: {exc}") from exc
        configs = {key: str(entry.value) for key, entry in entries.items()}
        drift.extend(topic_drift(name, spec, settings, partitions[name], configs))
    return drift
