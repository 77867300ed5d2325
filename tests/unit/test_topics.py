"""Topic declarations and drift detection."""

from __future__ import annotations

from streams.kafka_admin import topic_drift
from streams.settings import Settings
from streams.topics import (
    ALERTS_INDEX,
    ALL_TOPICS,
    CO_PARTITIONED,
    TASKS_EVENTS_BY_REF,
    VICTIMS_HISTORY,
    Cleanup,
    by_name,
)


def test_the_issue_topics_are_declared_once() -> None:
    names = [spec.name for spec in ALL_TOPICS]
    assert len(names) == len(set(names))
    required = {
        "alerts.raw",
        "alerts.dlq",
        "tasks",
        "tasks.events",
        "sla.ticks",
        "sla.events",
        "victims.history",
    }
    assert required <= set(names)


def test_victim_history_is_compacted_and_kept() -> None:
    assert VICTIMS_HISTORY.cleanup is Cleanup.COMPACT
    assert VICTIMS_HISTORY.configs()["cleanup.policy"] == "compact"
    assert VICTIMS_HISTORY.configs()["retention.ms"] == "-1"


def test_the_alert_index_keeps_every_verdict_for_a_week_before_compacting() -> None:
    configs = ALERTS_INDEX.configs()
    assert configs["cleanup.policy"] == "compact,delete"
    assert int(configs["min.compaction.lag.ms"]) >= 7 * 24 * 3600 * 1000
    assert int(configs["retention.ms"]) > int(configs["min.compaction.lag.ms"])


def test_the_resolver_topics_are_co_partitioned_by_alert_key() -> None:
    group = next(group for group in CO_PARTITIONED if ALERTS_INDEX in group)
    assert {spec.name for spec in group} == {"alerts.index", "tasks.events.by_ref", "resolver.ticks"}
    assert {spec.key for spec in group} == {"alert_key"} == {TASKS_EVENTS_BY_REF.key}


def test_data_topics_default_to_six_partitions_and_joined_topics_match() -> None:
    settings = Settings()
    assert by_name("alerts.raw").partition_count(settings) == 6
    for group in CO_PARTITIONED:
        assert len({spec.partition_count(settings) for spec in group}) == 1


def test_drift_reports_partitions_and_configs() -> None:
    spec = by_name("tasks")
    settings = Settings()
    same = topic_drift("tasks", spec, settings, 6, spec.configs())
    assert same == []
    drift = topic_drift("tasks", spec, settings, 3, {"cleanup.policy": "compact", "retention.ms": "1"})
    assert {(d.setting, d.declared, d.actual) for d in drift} == {
        ("partitions", "6", "3"),
        ("cleanup.policy", "delete", "compact"),
        ("retention.ms", str(spec.retention_ms), "1"),
    }
