"""The ClickHouse sink: warnings, tasks, task events, SLA events and victim cases into their tables.

Runs in a worker of its own (`RISKALERT_WORKER_STAGES='["sink"]'`), so in its own consumer group: while
ClickHouse is down the sink pauses its partitions and retries, and nothing upstream (dedup, SLA, pager)
waits for it.

Exactly-once effect, per partition:
1. `noack_take` hands over records without acking them.
2. Each partition's records are cut into batches (`streams.logic.batches`); a fresh batch's offset range
   is journaled in ClickHouse before it is inserted.
3. Each batch is inserted with `insert_deduplication_token = topic:partition:first-last`.
4. Only then are its records acked, so Faust commits their offsets after the insert.
After a crash the records past the committed offset are read again, cut at the journaled ranges, and
inserted under the same tokens, which ClickHouse drops as repeats. Inserts run on one worker thread,
off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

from faust import Stream

from streams import metrics
from streams.agents.common import PERMANENT, Where, dead_letter_at, decode, describe, reason_code
from streams.db import rows
from streams.db.errors import ClickHouseError
from streams.db.insert import insert_rows
from streams.db.journal import JOURNAL, planned_spans, record_spans
from streams.logic.batches import Batch, PartitionBatcher

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client
    from faust.types import TP, EventT, StreamT

    from streams.app import Pipeline

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
# How often records are handed over and due batches looked for; a batch fills for up to
# RISKALERT_SINK_BATCH_SECONDS.
TAKE_SECONDS = 0.1
Result = TypeVar("Result")


@dataclass(frozen=True)
class Pending:
    """One record taken from Kafka: its event (acked after the insert) and its row (None: dead-lettered)."""

    event: EventT[Any]
    row: rows.Row | None
    issued_at_ms: int | None = None


def attach(pipeline: Pipeline, client: Client) -> None:
    """Register the sink agent on the pipeline's app; `client` is connected and migrated."""
    sink = Sink(pipeline, client)
    settings = pipeline.settings
    source = pipeline.app.topic(
        *(settings.topic(name) for name in INPUTS), key_serializer="raw", value_serializer="raw"
    )

    @pipeline.app.agent(source, name=STAGE, concurrency=1)
    async def agent(stream: StreamT[Any]) -> None:
        # noack_take is faust-streaming's Stream method; StreamT does not declare it.
        records = cast("Stream[Any]", stream)
        async for events in records.noack_take(settings.sink_batch_rows, within=TAKE_SECONDS):
            await sink.take(stream, events)

    # noack_take yields only when records arrive: this loop inserts the batches that waited long enough.
    # A plain task, not app.timer: a flush that inserts takes longer than the interval, by design.
    async def flush_due() -> None:
        while True:
            await asyncio.sleep(TAKE_SECONDS)
            await sink.flush()

    pipeline.app.task(flush_due)

    pipeline.app.on_partitions_revoked.connect(sink.on_revoked)


class Sink:
    """The sink's state: one batcher per partition, the ClickHouse client and its thread."""

    def __init__(self, pipeline: Pipeline, client: Client) -> None:
        self.pipeline = pipeline
        self.client = client
        self.settings = pipeline.settings
        self.logical = {pipeline.settings.topic(name): name for name in INPUTS}
        self.batchers: dict[tuple[str, int], PartitionBatcher[Pending]] = {}
        # One thread: every ClickHouse call runs there, in order, never on the event loop.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self.paused = False
        self.stream: StreamT[Any] | None = None  # the agent's stream, which acks the records
        self.lock = asyncio.Lock()  # the agent and the flush timer take turns
        started = time.time()
        for table, _ in TABLES.values():
            metrics.SINK_FAILURES.labels(table)  # exported at 0, so increase() sees the first failure
            metrics.SINK_LAST_SUCCESS.labels(table).set(started)
        metrics.SINK_FAILURES.labels(JOURNAL)
        metrics.SINK_PAUSED.set(0)

    async def take(self, stream: StreamT[Any], events: Iterable[EventT[Any]]) -> None:
        """Queue taken records per partition, then insert and ack every batch that is due."""
        self.stream = stream
        async with self.lock:
            for event in events:
                message = event.message
                batcher = await self._batcher(message.topic, message.partition, message.offset)
                batcher.add(message.offset, await self._pending(event), time.monotonic())
            await self._insert_due()

    async def flush(self) -> None:
        """Insert and ack the batches that are due though no record arrived."""
        if self.stream is None:
            return
        async with self.lock:
            await self._insert_due()

    async def _insert_due(self) -> None:
        assert self.stream is not None
        now = time.monotonic()
        batches = [batch for batcher in self.batchers.values() for batch in batcher.cut(now)]
        if not batches:
            return
        await self._retrying(JOURNAL, partial(record_spans, self.client, batches))
        for batch in batches:
            await self._insert(batch)
            for _, pending in batch.items:
                await self.stream.ack(pending.event)

    async def on_revoked(self, app: Any, /, *args: Any, signal: Any = None, **_: Any) -> None:
        """Drop revoked partitions' queued records: unacked, they go to the partition's next owner."""
        revoked: Iterable[TP] = args[0] if args else ()
        for tp in revoked:
            self.batchers.pop((tp.topic, tp.partition), None)

    async def _batcher(self, topic: str, partition: int, offset: int) -> PartitionBatcher[Pending]:
        batcher = self.batchers.get((topic, partition))
        if batcher is not None and batcher.follows(offset):
            return batcher
        # First record of the partition here, or it was rewound (a rebalance): honour the journal.
        spans = await self._retrying(JOURNAL, partial(planned_spans, self.client, topic, partition, offset))
        if spans:
            log.info("sink: %s[%d] resumes at %d; %d batches journaled", topic, partition, offset, len(spans))
        settings = self.settings
        batcher = PartitionBatcher(
            topic, partition, settings.sink_batch_rows, settings.sink_batch_seconds, spans
        )
        self.batchers[(topic, partition)] = batcher
        return batcher

    async def _pending(self, event: EventT[Any]) -> Pending:
        message = event.message
        where = Where(message.topic, message.partition, message.offset)
        try:
            record_type, record = decode(self.pipeline, event)
            return Pending(event, self._row(where, record_type, record), record.get("issued_at"))
        except PERMANENT as exc:  # the record itself is bad: no retry can insert it
            await dead_letter_at(self.pipeline, STAGE, where, message.value, reason_code(exc), describe(exc))
        return Pending(event, None)

    def _row(self, where: Where, record_type: str, record: dict[str, Any]) -> rows.Row:
        logical = self.logical[where.topic]
        expected = RECORD_TYPES[logical]
        if record_type != expected:
            raise ValueError(f"{record_type} does not belong on {where.topic} (expected {expected})")
        if record_type == "RawAlert":
            return rows.alert_row(record, rows.KafkaPosition(where.topic, where.partition, where.offset))
        return rows.BY_RECORD_TYPE[record_type].row(record)

    async def _insert(self, batch: Batch[Pending]) -> None:
        table, columns = TABLES[self.logical[batch.topic]]
        batch_rows = [pending.row for _, pending in batch.items if pending.row is not None]
        started = time.perf_counter()
        insert = partial(insert_rows, self.client, table, columns, batch_rows, batch.token)
        await self._retrying(table, insert)
        landed = time.time()
        metrics.SINK_INSERT_SECONDS.labels(table).observe(time.perf_counter() - started)
        metrics.SINK_ROWS.labels(table).inc(len(batch_rows))
        metrics.SINK_BATCHES.labels(table, "journaled" if batch.journaled else "fresh").inc()
        metrics.SINK_LAST_SUCCESS.labels(table).set(landed)
        if table == rows.ALERTS:
            for _, pending in batch.items:
                if pending.issued_at_ms is not None:
                    metrics.END_TO_END_SECONDS.observe(max(0.0, landed - pending.issued_at_ms / 1000))

    async def _retrying(self, table: str, call: Callable[[], Result]) -> Result:
        """Run `call` on the ClickHouse thread until it succeeds; while it fails, consumption is paused."""
        delay = RETRY_FIRST_SECONDS
        loop = asyncio.get_running_loop()
        while True:
            try:
                result = await loop.run_in_executor(self.executor, partial(self._checked, call))
            except ClickHouseError as exc:
                metrics.SINK_FAILURES.labels(table).inc()
                self._pause()
                log.warning("sink: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.settings.sink_retry_max_seconds)
                continue
            self._resume()
            return result

    def _checked(self, call: Callable[[], Result]) -> Result:
        fault_file = self.settings.sink_fault_file
        if fault_file is not None and fault_file.exists():
            raise ClickHouseError(f"ClickHouse unavailable: fault switch {fault_file} is set (testing)")
        return call()

    def _pause(self) -> None:
        app = self.pipeline.app
        app.consumer.pause_partitions(app.assignor.assigned_actives())
        self.paused = True
        metrics.SINK_PAUSED.set(1)

    def _resume(self) -> None:
        if not self.paused:
            return
        app = self.pipeline.app
        app.consumer.resume_partitions(app.assignor.assigned_actives())
        self.paused = False
        metrics.SINK_PAUSED.set(0)
        log.info("sink: ClickHouse answers again; consumption resumed")
