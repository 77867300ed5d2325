"""The ClickHouse sink: warnings, tasks, task events, SLA events and victim cases into their tables.

Runs in a worker of its own (`riskalert worker --stages sink`), in its own consumer group: while
ClickHouse is down it pauses its partitions and retries, and nothing upstream (dedup, SLA, pager)
waits for it.

It is a librdkafka consumer loop, not a Faust agent: Faust hands an agent one event at a time, which
caps a stage near 7,000 records/s on this hardware (docs/benchmarks.md), and the sink must write
50,000 rows/s. The batching is the same as Faust's `stream.take(N, within=T)`: up to
`RISKALERT_SINK_BATCH_ROWS` records per partition, or what arrived within `RISKALERT_SINK_BATCH_SECONDS`.

Exactly-once effect, per partition:
1. Each partition's records are cut into batches (`streams.logic.batches`); a fresh batch's offset range
   is journaled in ClickHouse before it is inserted.
2. Each batch is inserted with `insert_deduplication_token = topic:partition:first-last`.
3. Only then is the offset after it committed (synchronously), and bad records' dead letters are
   delivered before that.
After a crash the records past the committed offset are read again, cut at the journaled ranges and
inserted under the same tokens, which ClickHouse drops as repeats.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from streams import metrics
from streams.agents.common import Where, dead_letter_record, describe, reason_code
from streams.codec import AvroCodec, default_codec
from streams.db import rows
from streams.db.errors import ClickHouseError
from streams.db.insert import insert_rows
from streams.db.journal import JOURNAL, planned_spans, record_spans
from streams.errors import CodecError
from streams.logic.batches import Batch, PartitionBatcher
from streams.producer import CheckedProducer

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from streams.settings import Settings

log = logging.getLogger(__name__)

STAGE = "sink"
# Logical input topic -> the record type it carries.
RECORD_TYPES = {
    "alerts.raw": "RawAlert",
    "tasks": "Task",
    "tasks.events": "TaskEvent",
    "sla.events": "SlaEvent",
    "victims.history": "VictimRecord",
}
INPUTS = tuple(RECORD_TYPES)
TABLES = {
    "alerts.raw": (rows.ALERTS, rows.ALERT_COLUMNS),
    **{
        topic: (rows.BY_RECORD_TYPE[kind].table, rows.BY_RECORD_TYPE[kind].columns)
        for topic, kind in RECORD_TYPES.items()
        if kind != "RawAlert"
    },
}
RETRY_FIRST_SECONDS = 0.5
# The longest one poll waits for records; due batches are looked for at least this often.
POLL_SECONDS = 0.1
LAG_INTERVAL_SECONDS = 5.0
Result = TypeVar("Result")


class Stopping(Exception):  # noqa: N818  (a signal, not an error)
    """SIGTERM arrived while ClickHouse was failing: leave the retry loop, commit nothing more."""


@dataclass(frozen=True)
class Pending:
    """One record read: its row (None: it was dead-lettered) and its issued_at for end-to-end latency."""

    row: rows.Row | None
    issued_at_ms: int | None = None


def consumer_config(settings: Settings, group: str) -> dict[str, Any]:
    """The sink's librdkafka consumer: its own group, manual commits, earliest on a fresh group."""
    return {
        **settings.kafka_client_config(),
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": int(settings.worker_session_timeout_seconds * 1000),
        "heartbeat.interval.ms": int(min(3.0, settings.worker_session_timeout_seconds / 3) * 1000),
        # While ClickHouse is down the loop keeps polling (paused), so the default poll interval holds.
    }


class Sink:
    """The sink's state: one batcher per partition, the consumer, ClickHouse and the dead letters."""

    def __init__(
        self,
        settings: Settings,
        client: Client,
        consumer: Consumer,
        dead_letters: CheckedProducer,
        codec: AvroCodec | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.client = client
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.codec = codec or default_codec()
        self.clock = clock
        self.logical = {settings.topic(name): name for name in INPUTS}
        self.batchers: dict[tuple[str, int], PartitionBatcher[Pending]] = {}
        self.assigned: set[tuple[str, int]] = set()
        self.paused = False
        self.stopping = threading.Event()
        started = time.time()
        for table, _ in TABLES.values():
            metrics.SINK_FAILURES.labels(table)  # exported at 0, so increase() sees the first failure
            metrics.SINK_LAST_SUCCESS.labels(table).set(started)
        metrics.SINK_FAILURES.labels(JOURNAL)
        metrics.SINK_PAUSED.set(0)

    # --- the loop ---------------------------------------------------------------------------------

    def run(self) -> None:
        """Consume, batch, insert and commit until `stopping` is set; then commit nothing more and close."""
        self.consumer.subscribe(
            [self.settings.topic(name) for name in INPUTS],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
        )
        next_lag = 0.0
        try:
            while not self.stopping.is_set():
                self.take(self.consumer.consume(self.settings.sink_batch_rows, timeout=POLL_SECONDS))
                self.insert_due()
                if self.clock() >= next_lag:
                    self._export_lag()
                    next_lag = self.clock() + LAG_INTERVAL_SECONDS
        except Stopping:
            log.warning("sink: stopped while ClickHouse was failing; uncommitted records are read again")
        finally:
            self.consumer.close()

    def take(self, messages: Iterable[Message]) -> None:
        """Queue read records per partition; a record that cannot become a row is dead-lettered."""
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("sink: consumer error: %s", error)
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            assert topic is not None  # set on every record (not on errors)
            assert partition is not None
            assert offset is not None
            batcher = self._batcher(topic, partition, offset)
            batcher.add(offset, self._pending(Where(topic, partition, offset), message.value()), self.clock())

    def insert_due(self) -> None:
        """Journal, insert and commit every batch that is due."""
        now = self.clock()
        batches = [batch for batcher in self.batchers.values() for batch in batcher.cut(now)]
        if not batches:
            return
        self._retrying(JOURNAL, partial(record_spans, self.client, batches))
        for batch in batches:
            self._insert(batch)
        self.dead_letters.flush()  # a dead letter is delivered before its record counts as done
        self._commit(batches)

    # --- partitions ---------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned |= {(tp.topic, tp.partition) for tp in partitions}
        if self.paused:
            consumer.pause(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Queued records of revoked partitions are not committed: their next owner reads them again and
        # cuts them at the journaled offsets.
        for tp in partitions:
            self.assigned.discard((tp.topic, tp.partition))
            self.batchers.pop((tp.topic, tp.partition), None)

    def _batcher(self, topic: str, partition: int, offset: int) -> PartitionBatcher[Pending]:
        batcher = self.batchers.get((topic, partition))
        if batcher is not None and batcher.follows(offset):
            return batcher
        # First record of the partition here, or it was rewound (a rebalance): honour the journal.
        spans = self._retrying(JOURNAL, partial(planned_spans, self.client, topic, partition, offset))
        if spans:
            log.info("sink: %s[%d] resumes at %d; %d batches journaled", topic, partition, offset, len(spans))
        max_rows, max_wait = self.settings.sink_batch_rows, self.settings.sink_batch_seconds
        batcher = PartitionBatcher(topic, partition, max_rows, max_wait, spans)
        self.batchers[(topic, partition)] = batcher
        return batcher

    # --- records to rows ----------------------------------------------------------------------------

    def _pending(self, where: Where, value: bytes | None) -> Pending:
        try:
            record_type, record = self.codec.decode(
                value or b"", topic=where.topic, partition=where.partition, offset=where.offset
            )
            return Pending(self._row(where, record_type, record), record.get("issued_at"))
        except (CodecError, KeyError, ValueError, TypeError) as exc:  # the record itself is bad
            self._dead_letter(where, value, reason_code(exc), describe(exc))
            return Pending(None)

    def _row(self, where: Where, record_type: str, record: dict[str, Any]) -> rows.Row:
        expected = RECORD_TYPES[self.logical[where.topic]]
        if record_type != expected:
            raise ValueError(f"{record_type} does not belong on {where.topic} (expected {expected})")
        if record_type == "RawAlert":
            return rows.alert_row(record, rows.KafkaPosition(where.topic, where.partition, where.offset))
        return rows.BY_RECORD_TYPE[record_type].row(record)

    def _dead_letter(self, where: Where, value: bytes | None, reason: str, error: str) -> None:
        letter = self.codec.encode("DeadLetter", dead_letter_record(STAGE, where, value, reason, error))
        key = f"{where.topic}:{where.partition}:{where.offset}".encode()
        self.dead_letters.produce(self.settings.topic("alerts.dlq"), key, letter)
        metrics.DEAD_LETTERS.labels(STAGE, reason).inc()
        log.error("%s: dead-lettered %s (%s): %s", STAGE, where, reason, error)

    # --- ClickHouse ---------------------------------------------------------------------------------

    def _insert(self, batch: Batch[Pending]) -> None:
        table, columns = TABLES[self.logical[batch.topic]]
        batch_rows = [pending.row for _, pending in batch.items if pending.row is not None]
        started = time.perf_counter()
        self._retrying(table, partial(insert_rows, self.client, table, columns, batch_rows, batch.token))
        landed = time.time()
        metrics.SINK_INSERT_SECONDS.labels(table).observe(time.perf_counter() - started)
        metrics.SINK_ROWS.labels(table).inc(len(batch_rows))
        metrics.SINK_BATCHES.labels(table, "journaled" if batch.journaled else "fresh").inc()
        metrics.SINK_LAST_SUCCESS.labels(table).set(landed)
        if table == rows.ALERTS:
            for _, pending in batch.items:
                if pending.issued_at_ms is not None:
                    metrics.END_TO_END_SECONDS.observe(max(0.0, landed - pending.issued_at_ms / 1000))

    def _retrying(self, table: str, call: Callable[[], Result]) -> Result:
        """Run `call` until it succeeds; while it fails, consumption is paused and the group kept alive."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                result = self._checked(call)
            except ClickHouseError as exc:
                if self.stopping.is_set():
                    raise Stopping from exc
                metrics.SINK_FAILURES.labels(table).inc()
                self._pause()
                log.warning("sink: %s; retrying in %.1fs", exc, delay)
                self._wait(delay)
                delay = min(delay * 2, self.settings.sink_retry_max_seconds)
                continue
            self._resume()
            return result

    def _checked(self, call: Callable[[], Result]) -> Result:
        fault_file = self.settings.sink_fault_file
        if fault_file is not None and fault_file.exists():
            raise ClickHouseError(f"ClickHouse unavailable: fault switch {fault_file} is set (testing)")
        return call()

    def _wait(self, seconds: float) -> None:
        """Sleep while staying in the group: poll the paused consumer; records already fetched are kept."""
        deadline = self.clock() + seconds
        while self.clock() < deadline:
            self.take(self.consumer.consume(self.settings.sink_batch_rows, timeout=POLL_SECONDS))

    def _pause(self) -> None:
        if not self.paused:
            self.consumer.pause(self._assignment())
            self.paused = True
            metrics.SINK_PAUSED.set(1)

    def _resume(self) -> None:
        if self.paused:
            self.consumer.resume(self._assignment())
            self.paused = False
            metrics.SINK_PAUSED.set(0)
            log.info("sink: ClickHouse answers again; consumption resumed")

    # --- Kafka offsets ------------------------------------------------------------------------------

    def _commit(self, batches: Sequence[Batch[Pending]]) -> None:
        """Commit, per partition still assigned, the offset after its last inserted batch."""
        ends: dict[tuple[str, int], int] = {}
        for batch in batches:
            key = (batch.topic, batch.partition)
            ends[key] = max(ends.get(key, 0), batch.span.last_offset + 1)
        offsets = [
            TopicPartition(topic, p, end) for (topic, p), end in ends.items() if (topic, p) in self.assigned
        ]
        if offsets:
            self.consumer.commit(offsets=offsets, asynchronous=False)

    def _assignment(self) -> list[TopicPartition]:
        return [TopicPartition(topic, partition) for topic, partition in sorted(self.assigned)]

    def _export_lag(self) -> None:
        metrics.CONSUMER_LAG.clear()
        partitions = self._assignment()
        if not partitions:
            return
        for tp in self.consumer.committed(partitions, timeout=5):
            # Cached: librdkafka updates the high watermark with every fetch; asking the broker per
            # partition took a quarter second each.
            _, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if high < 0:
                continue  # nothing fetched from it yet
            lag = max(0, high - max(tp.offset, 0))
            metrics.CONSUMER_LAG.labels(STAGE, tp.topic, str(tp.partition)).set(lag)


def run(settings: Settings, client: Client, group: str) -> None:
    """Run the sink until SIGTERM or SIGINT; the current round finishes (inserted and committed) first."""
    sink = Sink(settings, client, Consumer(consumer_config(settings, group)), CheckedProducer(settings))

    def stop(signum: int, _: Any) -> None:
        log.info("sink: %s received, stopping after the current round", signal.Signals(signum).name)
        sink.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("sink: Worker ready, group %s, writing to %s", group, settings.clickhouse.redacted())
    sink.run()
    log.info("sink: stopped")
