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
from streams.ingest.readers import ParseError
from streams.ingest.redact import redact_payload
from streams.ingest.validate import validate_alert, validate_task_event, validate_victim
from streams.partitioning import kafka_partition
from streams.producer import CheckedProducer
from streams.settings import Settings
from streams.topics import ALERTS_DLQ, ALERTS_RAW, TASKS_EVENTS, VICTIMS_HISTORY, TopicSpec


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


class Gateway:
    """Validates, pseudonymises, encodes and produces one kind of record; dead-letters the rest.

    Args:
        settings: topics, HMAC key and limits.
        producer: a checked producer; the caller flushes it.
        codec: the Avro codec.
        kind: alerts, task events or victim records.
        channel: `file` or `http`, for metrics and the dead letter's stage.
        clock: epoch-ms clock for timestamp checks and `ingested_at`.
    """

    def __init__(
        self,
        settings: Settings,
        producer: CheckedProducer,
        codec: AvroCodec,
        kind: RecordKind,
        channel: str,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self._route = _ROUTES[kind]
        self._kind = kind
        self._channel = channel
        self._stage = "ingest" if channel == "file" else f"ingest-{channel}"
        self._producer = producer
        self._codec = codec
        self._clock = clock
        self._context = IngestContext(settings.hmac_key_bytes(), limits_from(settings))
        self._topic = settings.topic(self._route.topic.name)
        self._dlq = settings.topic(ALERTS_DLQ.name)
        # Victim records: one compacted key per case, partitioned by the person (see streams/partitioning).
        self._partitions = producer.partition_count(self._topic) if kind is RecordKind.VICTIM else 0
        self.summary = Summary()
        self._seen: set[str] = set()
        # Labelled children resolved once: `labels()` per record costs more than the increment.
        self._accepted_total = metrics.INGEST_RECORDS.labels(kind.value, channel, "accepted")
        self._rejected_total = metrics.INGEST_RECORDS.labels(kind.value, channel, "rejected")
        self._duplicates_total = metrics.INGEST_DUPLICATES.labels(kind.value, channel)

    def submit(self, item: object, position: Position) -> Accepted | Rejected | ParseError:
        """Route one record (a parsed mapping, anything else, or a reader's ParseError)."""
        if isinstance(item, ParseError):
            self._dead_letter(item.reason_code, item.message, redact_payload(item.payload), position)
            return item
        result: Accepted | Rejected | None = not_a_mapping(item)
        if result is None:
            assert isinstance(item, Mapping)  # not_a_mapping said so; narrows the type for mypy
            result = self._route.validate(item, self._context, self._clock())
        if isinstance(result, Rejected):
            self._dead_letter(result.reason, result.message, redact_payload(_payload(item)), position)
        else:
            self._forward(result)
        return result

    def _forward(self, accepted: Accepted) -> None:
        value = self._codec.encode(self._route.record_type, accepted.record)
        if self._kind is RecordKind.VICTIM:
            key = f"{accepted.key}:{accepted.dedup_key}"
            partition = kafka_partition(accepted.key, self._partitions)
            self._producer.produce(self._topic, key, value, partition=partition)
        else:
            self._producer.produce(self._topic, accepted.key, value)
        self.summary.accepted += 1
        self._accepted_total.inc()
        if accepted.dedup_key in self._seen:
            self.summary.duplicates += 1
            self._duplicates_total.inc()
        else:
            self._seen.add(accepted.dedup_key)

    def _dead_letter(self, reason: str, error: str, payload: str, position: Position) -> None:
        letter = {
            "stage": self._stage,
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
        self._producer.produce(self._dlq, str(position), self._codec.encode("DeadLetter", letter))
        self.summary.rejected[reason] += 1
        self._rejected_total.inc()
        metrics.DEAD_LETTERS.labels(self._stage, reason).inc()


def _payload(item: object) -> bytes | str | Mapping[str, object]:
    if isinstance(item, bytes | str | Mapping):
        return item
    return repr(item)
