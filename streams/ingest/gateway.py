"""The back half of ingest: validated records to their topic, everything else to the dead-letter topic.

Every input record ends in exactly one of its data topic or `alerts.dlq`. Records that repeat an
earlier record of the same file or request are still forwarded (the dedup stage drops and counts
them) and counted here as duplicates-in-input.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from streams import metrics
from streams.codec import AvroCodec
from streams.ingest.context import Accepted, IngestContext, Rejected, not_a_mapping
from streams.ingest.fields import DAY_MS, Limits
from streams.ingest.readers import ParseError, parse_json_record
from streams.ingest.redact import redact_payload
from streams.ingest.validate import validate_alert, validate_task_event, validate_victim
from streams.partitioning import kafka_partition
from streams.producer import CheckedProducer
from streams.settings import Settings
from streams.topics import (
    ALERTS_DLQ,
    ALERTS_RAW,
    TASKS_EVENTS,
    TASKS_EVENTS_BY_REF,
    VICTIMS_HISTORY,
    TopicSpec,
)


class RecordKind(StrEnum):
    """What an input holds."""

    ALERT = "alert"
    EVENT = "event"
    VICTIM = "victim"


@dataclass(frozen=True)
class _Route:
    topic: TopicSpec
    record_type: str
    validate: Callable[[Mapping[str, object], IngestContext, int], Accepted | Rejected]


_ROUTES = {
    RecordKind.ALERT: _Route(ALERTS_RAW, "RawAlert", validate_alert),
    RecordKind.EVENT: _Route(TASKS_EVENTS, "TaskEvent", validate_task_event),
    RecordKind.VICTIM: _Route(VICTIMS_HISTORY, "VictimRecord", validate_victim),
}


@dataclass(frozen=True)
class Position:
    """Where an input record came from: a file name (or `-`, or an HTTP request) and its line."""

    input_name: str
    line: int

    def __str__(self) -> str:
        return f"{self.input_name}:{self.line}"


@dataclass
class Summary:
    """What one ingest run or request did."""

    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        """Every record seen: accepted (duplicates included) plus rejected."""
        return self.accepted + sum(self.rejected.values())


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def limits_from(settings: Settings) -> Limits:
    """The validator bounds the settings ask for."""
    return Limits(
        future_skew_ms=settings.ingest_max_skew_seconds * 1000,
        max_age_ms=settings.ingest_max_age_days * DAY_MS,
    )


@dataclass(frozen=True, slots=True)
class Routed:
    """Where one processed record goes: its topic, key, encoded value and optional partition.

    Attributes:
        dedup_key: the record's identity within its input (accepted records); None for dead letters.
        reason: the dead letter's reason code; None for accepted records.
    """

    topic: str
    key: str
    value: bytes
    partition: int | None
    dedup_key: str | None
    reason: str | None


class RecordProcessor:
    """The pure part of ingest: one input item in, its encoded destination out. No I/O.

    Args:
        settings: topics, HMAC key and limits.
        codec: the Avro codec.
        kind: alerts, task events or victim records.
        channel: `file` or `http`, named in the dead letter's stage.
        partitions: the data topic's partition count (victim records are partitioned explicitly).
        clock: epoch-ms clock for timestamp checks, `ingested_at` and `failed_at`.
    """

    def __init__(
        self,
        settings: Settings,
        codec: AvroCodec,
        kind: RecordKind,
        channel: str,
        partitions: int,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._route = _ROUTES[kind]
        self.kind = kind
        self.channel = channel
        self.stage = "ingest" if channel == "file" else f"ingest-{channel}"
        self._codec = codec
        self._clock = clock
        self._context = IngestContext(settings.hmac_key_bytes(), limits_from(settings))
        self._topic = settings.topic(self._route.topic.name)
        # Task events addressed by warning go to the resolver, keyed by alert key.
        self._by_ref_topic = settings.topic(TASKS_EVENTS_BY_REF.name)
        self._dlq = settings.topic(ALERTS_DLQ.name)
        self._partitions = partitions

    def process(self, item: object, position: Position) -> tuple[Routed, Accepted | Rejected | ParseError]:
        """Validate and encode one record, or build its dead letter.

        Args:
            item: a parsed mapping, an unparsed JSON line (bytes), anything else, or a ParseError.
            position: where it came from, for the dead letter.
        """
        if isinstance(item, bytes):
            item = parse_json_record(position.line, item)
        if isinstance(item, ParseError):
            return self._dead_letter(
                item.reason_code, item.message, redact_payload(item.payload), position
            ), item
        result: Accepted | Rejected | None = not_a_mapping(item)
        if result is None:
            assert isinstance(item, Mapping)  # not_a_mapping said so; narrows the type for mypy
            result = self._route.validate(item, self._context, self._clock())
        if isinstance(result, Rejected):
            payload = redact_payload(_payload(item))
            return self._dead_letter(result.reason, result.message, payload, position), result
        return self._accepted(result), result

    def _accepted(self, accepted: Accepted) -> Routed:
        value = self._codec.encode(self._route.record_type, accepted.record)
        if self.kind is RecordKind.VICTIM:
            # One compacted key per case, on the person's partition (see streams/partitioning.py).
            key = f"{accepted.key}:{accepted.dedup_key}"
            partition = kafka_partition(accepted.key, self._partitions)
            return Routed(self._topic, key, value, partition, accepted.dedup_key, None)
        by_ref = self.kind is RecordKind.EVENT and accepted.record.get("alert_ref") is not None
        topic = self._by_ref_topic if by_ref else self._topic
        return Routed(topic, accepted.key, value, None, accepted.dedup_key, None)

    def _dead_letter(self, reason: str, error: str, payload: str, position: Position) -> Routed:
        letter = {
            "stage": self.stage,
            "reason": reason,
            "error": f"{position}: {error}",
            "original_topic": None,
            "partition": None,
            "offset": None,
            "input_name": position.input_name,
            "input_line": position.line,
            "redacted_payload": payload,
            "failed_at": self._clock(),
        }
        return Routed(self._dlq, str(position), self._codec.encode("DeadLetter", letter), None, None, reason)


def partitions_for(settings: Settings, producer: CheckedProducer, kind: RecordKind) -> int:
    """The data topic's partition count where a kind needs it (victim records), else 0.

    Only victim records are partitioned explicitly, so only they cost a metadata request.
    """
    if kind is not RecordKind.VICTIM:
        return 0
    return producer.partition_count(settings.topic(_ROUTES[kind].topic.name))


class Gateway:
    """Produces processed records, counts outcomes and spots duplicates within one input.

    Args:
        producer: a checked producer; the caller flushes it.
        processor: validates and encodes; built once per run (file) or per server (HTTP).
    """

    def __init__(self, producer: CheckedProducer, processor: RecordProcessor) -> None:
        self.processor = processor
        self._producer = producer
        self.summary = Summary()
        self._seen: set[str] = set()
        kind, channel = processor.kind.value, processor.channel
        # Labelled children resolved once: `labels()` per record costs more than the increment.
        self._accepted_total = metrics.INGEST_RECORDS.labels(kind, channel, "accepted")
        self._rejected_total = metrics.INGEST_RECORDS.labels(kind, channel, "rejected")
        self._duplicates_total = metrics.INGEST_DUPLICATES.labels(kind, channel)

    def submit(self, item: object, position: Position) -> Accepted | Rejected | ParseError:
        """Process and produce one record in this process."""
        routed, result = self.processor.process(item, position)
        self.apply(routed)
        return result

    def apply(self, routed: Routed) -> None:
        """Produce one processed record (perhaps processed elsewhere) and count its outcome."""
        self._producer.produce(routed.topic, routed.key, routed.value, partition=routed.partition)
        if routed.reason is not None:
            self.summary.rejected[routed.reason] += 1
            self._rejected_total.inc()
            metrics.DEAD_LETTERS.labels(self.processor.stage, routed.reason).inc()
            return
        self.summary.accepted += 1
        self._accepted_total.inc()
        assert routed.dedup_key is not None  # every accepted record has one
        if routed.dedup_key in self._seen:
            self.summary.duplicates += 1
            self._duplicates_total.inc()
        else:
            self._seen.add(routed.dedup_key)


def _payload(item: object) -> bytes | str | Mapping[str, object]:
    if isinstance(item, bytes | str | Mapping):
        return item
    return repr(item)
