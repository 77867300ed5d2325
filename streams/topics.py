"""Every topic riskalert uses, declared once: name, key, partitions, retention and compaction.

Topics that are joined (co-partitioned) share the data-topic partition count, so what must meet lands
on the same partition. Faust's own changelog and repartition topics are created by Faust and are not
listed here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from streams.settings import Settings

DAY_MS = 24 * 60 * 60 * 1000


class Cleanup(StrEnum):
    """Kafka `cleanup.policy`."""

    DELETE = "delete"
    COMPACT = "compact"
    # Compacted, and whole segments older than the retention deleted: the last record per key is kept
    # only as long as the retention.
    COMPACT_DELETE = "compact,delete"


@dataclass(frozen=True)
class TopicSpec:
    """One topic's contract with the broker.

    Attributes:
        name: the logical name; the broker name adds `Settings.topic_prefix`.
        key: what the message key is, which decides co-partitioning.
        doc: what flows through it.
        retention_ms: how long records are kept (-1: forever).
        cleanup: delete or compact.
        partitions: None means the data-topic default (`Settings.topic_partitions`).
        extra: further topic configs, as Kafka names them.
    """

    name: str
    key: str
    doc: str
    retention_ms: int
    cleanup: Cleanup = Cleanup.DELETE
    partitions: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def partition_count(self, settings: Settings) -> int:
        """The partitions this topic should have under these settings."""
        return self.partitions or settings.topic_partitions

    def configs(self) -> dict[str, str]:
        """The topic-level configs riskalert sets and checks."""
        return {
            "cleanup.policy": self.cleanup.value,
            "retention.ms": str(self.retention_ms),
            **self.extra,
        }


ALERTS_RAW = TopicSpec(
    "alerts.raw",
    key="person_key",
    retention_ms=7 * DAY_MS,
    doc="validated, pseudonymised warnings (RawAlert) from ingest",
)
ALERTS_DLQ = TopicSpec(
    "alerts.dlq",
    key="source position",
    retention_ms=30 * DAY_MS,
    doc="dead letters (DeadLetter): every record the pipeline could not take, with its reason and position",
)
TASKS = TopicSpec(
    "tasks",
    key="task_id",
    retention_ms=30 * DAY_MS,
    doc="dissuasion tasks (Task), each version after creation or merge",
)
TASKS_EVENTS = TopicSpec(
    "tasks.events",
    key="task_id",
    retention_ms=30 * DAY_MS,
    doc="task lifecycle events (TaskEvent) from ops systems",
)
SLA_TICKS = TopicSpec(
    "sla.ticks",
    key="task_id",
    retention_ms=1 * DAY_MS,
    doc="deadline check commands from the SLA timer to the SLA agent; co-partitioned with tasks",
)
SLA_EVENTS = TopicSpec(
    "sla.events",
    key="task_id",
    retention_ms=30 * DAY_MS,
    doc="SLA events (SlaEvent): AT_RISK_50, AT_RISK_75, BREACHED, MET, MET_LATE",
)
VICTIMS_HISTORY = TopicSpec(
    "victims.history",
    key="person_key",
    retention_ms=-1,
    cleanup=Cleanup.COMPACT,
    doc="prior-victim case records (VictimRecord), compacted to the latest record per key",
    extra={"min.compaction.lag.ms": str(60 * 60 * 1000)},
)

# A verdict must outlive the lag of its slowest reader (the resolver, the ClickHouse sink): compaction
# keeps only the last verdict per alert key, and a duplicate's verdict would otherwise replace the first
# delivery's before a lagging reader saw it. 7 days is the duplicate retention and alerts.raw's retention.
INDEX_MIN_COMPACTION_LAG_MS = 7 * DAY_MS

PERSONS_FACTS = TopicSpec(
    "persons.facts",
    key="person_key",
    retention_ms=30 * DAY_MS,
    doc="facts routed to a person's partition (PersonFact): relatives' cases and task closures",
)

ALERTS_INDEX = TopicSpec(
    "alerts.index",
    key="alert_key",
    retention_ms=30 * DAY_MS,
    cleanup=Cleanup.COMPACT_DELETE,
    doc="the dedup stage's verdict per warning (AlertVerdict): alert_ref -> task_id, outcome, raw position",
    extra={"min.compaction.lag.ms": str(INDEX_MIN_COMPACTION_LAG_MS)},
)
TASKS_EVENTS_BY_REF = TopicSpec(
    "tasks.events.by_ref",
    key="alert_key",
    retention_ms=30 * DAY_MS,
    doc="task events addressed by warning (TaskEvent with alert_ref), before the resolver forwards them",
)
RESOLVER_TICKS = TopicSpec(
    "resolver.ticks",
    key="alert_key",
    retention_ms=1 * DAY_MS,
    doc="hold-expiry and purge check commands from the resolver timer to the resolver agent",
)

ALL_TOPICS: tuple[TopicSpec, ...] = (
    ALERTS_RAW,
    ALERTS_DLQ,
    TASKS,
    TASKS_EVENTS,
    SLA_TICKS,
    SLA_EVENTS,
    VICTIMS_HISTORY,
    PERSONS_FACTS,
    ALERTS_INDEX,
    TASKS_EVENTS_BY_REF,
    RESOLVER_TICKS,
)

# Topics joined by one agent must have equal partition counts: the SLA agent joins tasks, tasks.events
# and sla.ticks; the pager joins tasks and sla.events; the resolver joins alerts.index,
# tasks.events.by_ref and resolver.ticks (all keyed by alert key).
CO_PARTITIONED: tuple[tuple[TopicSpec, ...], ...] = (
    (ALERTS_RAW, VICTIMS_HISTORY, PERSONS_FACTS),
    (TASKS, TASKS_EVENTS, SLA_TICKS, SLA_EVENTS),
    (ALERTS_INDEX, TASKS_EVENTS_BY_REF, RESOLVER_TICKS),
)


def by_name(name: str) -> TopicSpec:
    """The spec of a logical topic name.

    Raises:
        KeyError: naming the unknown topic.
    """
    for spec in ALL_TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown topic {name!r}; declared: {', '.join(s.name for s in ALL_TOPICS)}")
