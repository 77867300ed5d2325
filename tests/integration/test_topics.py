"""`riskalert topics create` against the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic  # type: ignore[attr-defined]

from streams.settings import Settings
from streams.topics import ALL_TOPICS, by_name


def _riskalert(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "riskalert"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


def _describe(admin: AdminClient, name: str) -> tuple[int, dict[str, str]]:
    partitions = len(admin.list_topics(topic=name, timeout=10).topics[name].partitions)
    resource = ConfigResource(ConfigResource.Type.TOPIC, name)
    entries = admin.describe_configs([resource])[resource].result(timeout=10)
    return partitions, {key: str(entry.value) for key, entry in entries.items()}


@pytest.fixture
def prefix(admin: AdminClient) -> Iterator[str]:
    """A private topic namespace, deleted afterwards."""
    value = f"t{uuid.uuid4().hex[:8]}."
    yield value
    names = [name for name in admin.list_topics(timeout=10).topics if name.startswith(value)]
    if names:
        for future in admin.delete_topics(names).values():
            future.result(timeout=30)


def test_declared_topics_exist_with_declared_configs(settings: Settings, admin: AdminClient) -> None:
    result = _riskalert("topics", "create")
    assert result.returncode == 0, result.stdout + result.stderr
    for spec in ALL_TOPICS:
        partitions, configs = _describe(admin, settings.topic(spec.name))
        assert partitions == spec.partition_count(settings), spec.name
        for key, value in spec.configs().items():
            assert configs[key] == value, (spec.name, key)
    assert _describe(admin, settings.topic("victims.history"))[1]["cleanup.policy"] == "compact"


def test_create_is_idempotent_and_reports_without_touching(admin: AdminClient, prefix: str) -> None:
    first = _riskalert("topics", "create", RISKALERT_TOPIC_PREFIX=prefix)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("created") == len(ALL_TOPICS)
    second = _riskalert("topics", "create", RISKALERT_TOPIC_PREFIX=prefix)
    assert second.returncode == 0
    assert second.stdout.count("ok ") == len(ALL_TOPICS)
    assert "created" not in second.stdout


def test_drift_is_reported_and_left_alone(admin: AdminClient, prefix: str) -> None:
    drifted = f"{prefix}tasks"
    admin.create_topics(
        [NewTopic(drifted, num_partitions=3, replication_factor=1, config={"retention.ms": "1000"})]
    )[drifted].result(timeout=30)
    result = _riskalert("topics", "create", RISKALERT_TOPIC_PREFIX=prefix)
    assert result.returncode == 1
    assert f"{drifted}: partitions is 3, declared 6" in result.stdout
    assert f"{drifted}: retention.ms is 1000, declared {by_name('tasks').retention_ms}" in result.stdout
    partitions, configs = _describe(admin, drifted)
    assert (partitions, configs["retention.ms"]) == (3, "1000")


def test_table_changelogs_are_created_before_the_worker_starts(
    settings: Settings, admin: AdminClient, prefix: str
) -> None:
    """Every stage's table changelog is made up front (compacted, one partition per input partition),
    once: a worker that made one itself could refuse the first record for its table."""
    from streams.app import create_app
    from streams.kafka_admin import ensure_changelogs

    private = settings.model_copy(
        update={"topic_prefix": prefix, "worker_stages": ["dedup", "resolver", "sla", "pager"]}
    )
    tables = list(create_app(private).app.tables.values())
    names = {table.changelog_topic_name for table in tables}
    assert len(names) >= 4, names
    assert all(name.startswith(prefix) for name in names), names

    assert set(ensure_changelogs(private, tables)) == names
    for name in names:
        partitions, configs = _describe(admin, name)
        assert partitions == private.topic_partitions, name
        assert configs["cleanup.policy"] == "compact", name
    assert ensure_changelogs(private, tables) == []  # a second start creates nothing
