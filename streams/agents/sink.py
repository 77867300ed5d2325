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

Two threads share the work. The consumer thread (this module) polls, checks headers and batches, and
commits; the inserter thread (`streams.agents.sink_inserter`) journals and inserts one round of
batches at a time, while the consumer thread reads the next (chDB releases the GIL while it works).
The inserter never touches the consumer. At most one round is in flight; when the records queued
behind it pass `BACKLOG_BATCHES` full batches, or while ClickHouse fails, consumption is paused (and
polling goes on, to stay in the group). A partition is
revoked only after the round in flight has landed and been committed, or been given up (ClickHouse
failing): its next owner reads the journal only after that. What a record becomes, and its dead
letter when it is bad, is `streams.agents.sink_records`.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from streams import metrics
from streams.agents.sink_inserter import RETRY_FIRST_SECONDS, Inserter, Round, checked
from streams.agents.sink_records import INPUTS, STAGE, TABLES, Pending, Records
from streams.codec import AvroCodec, default_codec
from streams.db.client import connect
from streams.db.errors import ClickHouseError
from streams.db.journal import JOURNAL, planned_spans
from streams.logic.batches import Batch, PartitionBatcher
from streams.producer import CheckedProducer

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from streams.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["INPUTS", "STAGE", "Sink", "consumer_config", "run"]

# Consumption pauses while the records queued behind the round in flight pass this many full batches.
BACKLOG_BATCHES = 4
# The longest one poll waits for records; due batches are looked for at least this often.
POLL_SECONDS = 0.1
LAG_INTERVAL_SECONDS = 5.0
Result = TypeVar("Result")


class Stopping(Exception):  # noqa: N818  (a signal, not an error)
    """SIGTERM arrived while ClickHouse was failing: leave the retry loop, commit nothing more."""


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
    """The consumer thread's state: one batcher per partition, the consumer, and the round in flight."""

    def __init__(
        self,
        settings: Settings,
        client: Client,
        consumer: Consumer,
        dead_letters: CheckedProducer,
        codec: AvroCodec | None = None,
        clock: Callable[[], float] = time.monotonic,
        reader: Client | None = None,
        lanes: Sequence[Client] = (),
    ) -> None:
        self.settings = settings
        self.reader = reader or client  # the consumer thread's (a server session serves one query at a time)
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.records = Records(settings, codec or default_codec(), dead_letters)
        self.clock = clock
        self.batchers: dict[tuple[str, int], PartitionBatcher[Pending]] = {}
        self.assigned: set[tuple[str, int]] = set()
        self.paused = False
        self.stopping = threading.Event()
        # `client` is the inserter thread's; with `lanes`, a round's batches are inserted that many at once.
        self.inserter = Inserter(settings, self.records, [client, *lanes], self.stopping)
        self.failing = self.inserter.failing  # set by the inserter while ClickHouse fails
        self.in_flight: Round | None = None
        self.backlog_rows = BACKLOG_BATCHES * settings.sink_batch_rows
        started = time.time()
        for table, _ in TABLES.values():
            metrics.SINK_FAILURES.labels(table)  # exported at 0, so increase() sees the first failure
            metrics.SINK_LAST_SUCCESS.labels(table).set(started)
        metrics.SINK_FAILURES.labels(JOURNAL)
        metrics.SINK_PAUSED.set(0)

    def run(self) -> None:
        """Consume, batch, insert and commit until `stopping` is set; then finish or give up the round in
        flight (given up only while ClickHouse fails) and close."""
        self.consumer.subscribe(
            [self.settings.topic(name) for name in INPUTS],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
        )
        self.inserter.start()
        next_lag = 0.0
        try:
            while not self.stopping.is_set():
                self._settle()
                self._flow_control()
                self.take(self.consumer.consume(self.settings.sink_batch_rows, timeout=self._poll_timeout()))
                self.hand_over()
                if self.clock() >= next_lag:
                    self._export_lag()
                    next_lag = self.clock() + LAG_INTERVAL_SECONDS
            self._settle(wait=True)
        except Stopping:
            log.warning("sink: stopped while ClickHouse was failing; uncommitted records are read again")
        finally:
            self.inserter.close(self.in_flight)
            self.consumer.close()

    def take(self, messages: Iterable[Message]) -> None:
        """Queue read records per partition; a record that cannot become a row is dead-lettered."""
        now = self.clock()
        batchers = self.batchers
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
            batcher = batchers.get((topic, partition))
            if batcher is None or not batcher.follows(offset):
                batcher = self._batcher(topic, partition, offset)
            batcher.add(offset, self.records.pending(topic, partition, offset, message.value()), now)

    def hand_over(self) -> None:
        """Hand every due batch to the inserter, unless a round is still in flight."""
        if self.in_flight is not None:
            return
        now = self.clock()
        batches = [batch for batcher in self.batchers.values() for batch in batcher.cut(now)]
        if batches:
            self.in_flight = Round(batches)
            self.inserter.submit(self.in_flight)

    def _settle(self, wait: bool = False) -> None:
        """Commit the round in flight once it has landed; with `wait`, wait for it (giving it up if
        ClickHouse fails and the sink is stopping)."""
        flight = self.in_flight
        if flight is None:
            return
        if wait:
            while not flight.done.wait(POLL_SECONDS):
                if self.stopping.is_set() and self.failing.is_set():
                    flight.abandon.set()
        if not flight.done.is_set():
            return
        self.in_flight = None
        if not flight.landed:
            raise Stopping  # given up: nothing of it is committed
        self.dead_letters.flush()  # a dead letter is delivered before its record counts as done
        self._commit(flight.batches)

    def _flow_control(self) -> None:
        """Pause while ClickHouse fails or too much waits behind the round in flight; resume after."""
        queued = sum(batcher.pending for batcher in self.batchers.values())
        if self.failing.is_set() or (self.in_flight is not None and queued >= self.backlog_rows):
            self._pause()
        else:
            self._resume()

    def _poll_timeout(self) -> float:
        # Paused behind a healthy round: wait for it rather than for records that cannot come.
        flight = self.in_flight
        if self.paused and flight is not None and not self.failing.is_set():
            flight.done.wait(POLL_SECONDS)
            return 0.0
        return POLL_SECONDS

    # --- partitions ---------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned |= {(tp.topic, tp.partition) for tp in partitions}
        # librdkafka keeps a partition's pause across a revocation: set the state explicitly either way.
        if self.paused:
            consumer.pause(partitions)
        else:
            consumer.resume(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The round in flight lands and is committed first (or, while ClickHouse fails, is given up), so
        # the partitions' next owner finds every range this sink journaled before it reads the journal.
        # Queued records of revoked partitions are not committed: their next owner reads them again and
        # cuts them at the journaled offsets.
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        flight = self.in_flight
        if flight is not None and flight.partitions & revoked:
            while not flight.done.wait(POLL_SECONDS):
                if self.failing.is_set():
                    flight.abandon.set()
            self.in_flight = None
            if flight.landed:
                self.dead_letters.flush()
                self._commit(flight.batches)
            else:
                log.warning(
                    "sink: partitions revoked while ClickHouse failed; the round in flight is read again"
                )
                self._rewind(consumer, flight, revoked)
        for key in revoked:
            self.assigned.discard(key)
            self.batchers.pop(key, None)

    def _rewind(self, consumer: Consumer, flight: Round, revoked: set[tuple[str, int]]) -> None:
        """Read a given-up round again from its first offsets (revoked partitions: by their next owner)."""
        firsts: dict[tuple[str, int], int] = {}
        for batch in flight.batches:
            key = (batch.topic, batch.partition)
            firsts[key] = min(firsts.get(key, batch.items[0][0]), batch.items[0][0])
        for (topic, partition), first in firsts.items():
            self.batchers.pop((topic, partition), None)
            if (topic, partition) not in revoked:
                consumer.seek(TopicPartition(topic, partition, first))

    def _batcher(self, topic: str, partition: int, offset: int) -> PartitionBatcher[Pending]:
        # First record of the partition here, or it was rewound (a rebalance): honour the journal.
        spans = self._retrying_here(partial(planned_spans, self.reader, topic, partition, offset))
        if spans:
            log.info("sink: %s[%d] resumes at %d; %d batches journaled", topic, partition, offset, len(spans))
        max_rows, max_wait = self.settings.sink_batch_rows, self.settings.sink_batch_seconds
        batcher: PartitionBatcher[Pending] = PartitionBatcher(topic, partition, max_rows, max_wait, spans)
        self.batchers[(topic, partition)] = batcher
        return batcher

    # --- ClickHouse from the consumer thread (the journal, when a partition starts) -------------------

    def _retrying_here(self, call: Callable[[], Result]) -> Result:
        """Run `call` until it succeeds; while it fails, consumption is paused and the group kept alive."""
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                return checked(self.settings, JOURNAL, call)
            except ClickHouseError as exc:
                if self.stopping.is_set():
                    raise Stopping from exc
                metrics.SINK_FAILURES.labels(JOURNAL).inc()
                self._pause()
                log.warning("sink: %s; retrying in %.1fs", exc, delay)
                self._wait(delay)
                delay = min(delay * 2, self.settings.sink_retry_max_seconds)

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
    reader = connect(settings)
    lanes = [connect(settings) for _ in range(settings.sink_insert_threads - 1)]
    consumer = Consumer(consumer_config(settings, group))
    sink = Sink(settings, client, consumer, CheckedProducer(settings), reader=reader, lanes=lanes)

    def stop(signum: int, _: Any) -> None:
        log.info("sink: %s received, stopping after the current round", signal.Signals(signum).name)
        sink.stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("sink: Worker ready, group %s, writing to %s", group, settings.clickhouse.redacted())
    try:
        sink.run()
    finally:
        for extra in (reader, *lanes):
            extra.close()
    log.info("sink: stopped")
