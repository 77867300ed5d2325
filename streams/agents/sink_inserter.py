"""The sink's inserter thread: journal a round of batches, insert them, and retry while ClickHouse fails.

The consumer thread (`streams.agents.sink`) hands over one `Round` at a time and commits it once it has
landed. The inserter journals the round's offset ranges, then inserts its batches over
`RISKALERT_SINK_INSERT_THREADS` lanes, each batch whole under its own deduplication token. While
ClickHouse fails it backs off and sets `failing` (the consumer thread pauses then); a round given up
(stopping, or its partitions revoked, while ClickHouse fails) is read again, never committed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from streams import metrics
from streams.agents.sink_records import Pending, Records
from streams.db import rows
from streams.db.errors import ClickHouseError, RefusedBlock
from streams.db.insert import insert_avro, insert_rows
from streams.db.journal import JOURNAL, record_spans
from streams.logic.batches import Batch

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from streams.settings import Settings

log = logging.getLogger(__name__)

RETRY_FIRST_SECONDS = 0.5
Result = TypeVar("Result")


class Abandoned(Exception):  # noqa: N818  (a signal, not an error)
    """The round was given up (stopping or revoked while ClickHouse failed); its records are read again."""


@dataclass
class Round:
    """Batches handed to the inserter together; committed (by the consumer thread) once they landed."""

    batches: list[Batch[Pending]]
    done: threading.Event = field(default_factory=threading.Event)
    abandon: threading.Event = field(default_factory=threading.Event)
    landed: bool = False

    @property
    def partitions(self) -> set[tuple[str, int]]:
        return {(batch.topic, batch.partition) for batch in self.batches}


class Inserter:
    """The inserter thread and its ClickHouse clients: one per insert lane."""

    def __init__(
        self,
        settings: Settings,
        records: Records,
        lanes: Sequence[Client],
        stopping: threading.Event,
    ) -> None:
        self.settings = settings
        self.records = records
        self.lanes = list(lanes)
        self.stopping = stopping
        self.failing = threading.Event()  # set while ClickHouse fails
        self._lane_pool = ThreadPoolExecutor(len(self.lanes), thread_name_prefix="sink-lane")
        self._rounds: queue.Queue[Round | None] = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._insert_rounds, name="sink-inserter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, flight: Round) -> None:
        """Hand a round over; the consumer thread waits on `flight.done`."""
        self._rounds.put(flight)

    def close(self, in_flight: Round | None) -> None:
        """Give up the round in flight if it still retries, and end the thread and the lanes."""
        if in_flight is not None:
            in_flight.abandon.set()
        if self._thread.is_alive():
            self._rounds.put(None)
            self._thread.join()
        self._lane_pool.shutdown()

    def _insert_rounds(self) -> None:
        while (flight := self._rounds.get()) is not None:
            try:
                self._retrying(JOURNAL, flight, partial(record_spans, self.lanes[0], flight.batches))
                self._insert_all(flight)
                flight.landed = True
            except Abandoned:
                self.failing.clear()  # the next round tries ClickHouse afresh (it pauses while failing)
                metrics.SINK_ROUNDS_GIVEN_UP.inc()
                log.warning("sink: a round of %d batches was given up; it is read again", len(flight.batches))
            except Exception:  # a bug, not ClickHouse: the consumer thread must not wait for ever
                log.exception("sink: the inserter failed; stopping")
                self.stopping.set()
            finally:
                flight.done.set()

    def _insert_all(self, flight: Round) -> None:
        """Insert the round's batches over the insert lanes (each batch whole, under its own token), the
        biggest first, each to the least loaded lane; raise the first lane's error once all have ended."""
        if len(self.lanes) == 1:
            self._insert_lane(flight, flight.batches, self.lanes[0])
            return
        loads = [0] * len(self.lanes)
        plan: list[list[Batch[Pending]]] = [[] for _ in self.lanes]
        for batch in sorted(flight.batches, key=lambda b: len(b.items), reverse=True):
            lane = loads.index(min(loads))
            plan[lane].append(batch)
            loads[lane] += len(batch.items)
        futures = [
            self._lane_pool.submit(self._insert_lane, flight, batches, client)
            for batches, client in zip(plan, self.lanes, strict=True)
            if batches
        ]
        errors = [future.exception() for future in futures]
        for error in errors:
            if error is not None:
                raise error

    def _insert_lane(self, flight: Round, batches: Sequence[Batch[Pending]], client: Client) -> None:
        for batch in batches:
            self._insert(flight, batch, client)

    def _insert(self, flight: Round, batch: Batch[Pending], client: Client) -> None:
        """Insert one batch: as an Avro block ClickHouse decodes, or, for records under an older or mixed
        schema or a block ClickHouse could not read, as rows decoded here. The choice depends only on
        the batch's bytes, so a replay makes it again, under the same token."""
        table, columns = self.records.table(batch.topic)
        live = [(offset, item) for offset, item in batch.items if item is not None]
        started = time.perf_counter()
        inserted = None if live else 0  # a batch of dead letters only inserts nothing
        if live and len({schema_id for _, (_, schema_id, _) in live}) == 1 and live[0][1][2]:
            block = self.records.block(batch, live)
            try:
                self._retrying(
                    table, flight, partial(insert_avro, client, table, columns, block, batch.token)
                )
                inserted = len(live)
            except RefusedBlock as exc:
                log.warning("sink: %s; decoding the batch record by record", exc)
        if inserted is None:
            metrics.SINK_DECODED_BATCHES.labels(table).inc()
            batch_rows = self.records.rows(batch, live)
            self._retrying(
                table, flight, partial(insert_rows, client, table, columns, batch_rows, batch.token)
            )
            inserted = len(batch_rows)
        landed = time.time()
        metrics.SINK_INSERT_SECONDS.labels(table).observe(time.perf_counter() - started)
        metrics.SINK_ROWS.labels(table).inc(inserted)
        metrics.SINK_BATCHES.labels(table, "journaled" if batch.journaled else "fresh").inc()
        metrics.SINK_LAST_SUCCESS.labels(table).set(landed)
        if table == rows.ALERTS and live:
            # Issued-to-landed time of the batch's first (longest-waiting) warning: one decode a batch.
            issued = self.records.issued_at(live[0][1][0])
            if issued is not None:
                metrics.END_TO_END_SECONDS.observe(max(0.0, landed - issued))

    def _retrying(self, table: str, flight: Round, call: Callable[[], Result]) -> Result:
        """Run `call` until it succeeds, backing off while it fails (the consumer thread pauses then).

        Raises:
            Abandoned: the round was given up, or the sink is stopping, while ClickHouse failed.
        """
        delay = RETRY_FIRST_SECONDS
        while True:
            try:
                result = checked(self.settings, table, call)
            except ClickHouseError as exc:
                metrics.SINK_FAILURES.labels(table).inc()
                self.failing.set()
                if self.stopping.is_set() or flight.abandon.is_set():
                    raise Abandoned from exc
                log.warning("sink: %s; retrying in %.1fs", exc, delay)
                if flight.abandon.wait(delay):
                    raise Abandoned from exc
                delay = min(delay * 2, self.settings.sink_retry_max_seconds)
                continue
            if self.failing.is_set():
                self.failing.clear()
                log.info("sink: ClickHouse answers again")
            return result


def checked(settings: Settings, table: str, call: Callable[[], Result]) -> Result:
    """`call()`, unless the test-only fault switch fails writes to `table` now."""
    fault_file = settings.sink_fault_file
    if fault_file is not None and _faulty(fault_file, table):
        raise ClickHouseError(f"ClickHouse unavailable: fault switch {fault_file} is set (testing)")
    return call()


def _faulty(fault_file: Path, table: str) -> bool:
    """Whether the test-only fault switch fails writes to `table` now (see `sink_fault_file`)."""
    try:
        named = fault_file.read_text().split()
    except FileNotFoundError:
        return False
    return not named or table in named
