"""File ingest: `riskalert ingest alerts|events FILE|-` and `riskalert history load FILE`.

Reading and producing happen in this process; parsing, validation, pseudonymisation and encoding run
in worker processes on chunks of records (one per core by default). Chunks come back in input order,
so the output order, and every dead letter's line number, is the same as with one process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from itertools import chain, islice
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import IO

from streams.codec import default_codec
from streams.ingest.gateway import (
    Gateway,
    Position,
    RecordKind,
    RecordProcessor,
    Routed,
    Summary,
    partitions_for,
)
from streams.ingest.readers import Item, read_records
from streams.producer import CheckedProducer
from streams.settings import Settings

PROGRESS_EVERY_RECORDS = 2000
CHUNK_RECORDS = 1000
# Chunks in flight per worker: enough to keep workers busy, few enough to bound memory on huge files.
CHUNKS_IN_FLIGHT_PER_WORKER = 3
Progress = Callable[[int], None]

_worker_processor: RecordProcessor | None = None


def ingest_file(
    settings: Settings,
    kind: RecordKind,
    source: str,
    *,
    fmt: str | None = None,
    progress: Progress | None = None,
) -> Summary:
    """Ingest every record of a file (or `-` for stdin); returns once every record is confirmed.

    Args:
        settings: where to produce, and `ingest_workers`.
        kind: what the file holds.
        source: a path, or `-` for standard input.
        fmt: `jsonl` or `csv`; None detects it from the name or the first line.
        progress: called with the bytes read so far, every few thousand records.

    Raises:
        ProduceError: if Kafka did not confirm every record (nothing is reported as accepted then).
        IngestError: for an unknown format.
        OSError: if the file cannot be opened.
    """
    workers = settings.ingest_workers or os.cpu_count() or 1
    name = "-" if source == "-" else Path(source).name
    with ExitStack() as stack:
        producer = CheckedProducer(settings)
        partitions = partitions_for(settings, producer, kind)
        gateway = Gateway(producer, RecordProcessor(settings, default_codec(), kind, "file", partitions))
        stream: IO[bytes] = sys.stdin.buffer if source == "-" else stack.enter_context(open(source, "rb"))
        records = read_records(stream, fmt=fmt, name=name, defer_json=True)
        # Worker processes take a second to start: only inputs of more than one chunk are worth it.
        head = list(islice(records, CHUNK_RECORDS))
        items = chain(head, records)
        routed: Iterator[Routed]
        if workers > 1 and len(head) == CHUNK_RECORDS:
            pool = stack.enter_context(_pool(settings, kind, partitions, workers))
            routed = _in_pool(pool, items, name, workers)
        else:
            routed = _in_process(gateway.processor, items, name)
        for count, record in enumerate(routed, start=1):
            gateway.apply(record)
            if progress is not None and count % PROGRESS_EVERY_RECORDS == 0:
                progress(_tell(stream))
        producer.flush()
        if progress is not None:
            progress(_tell(stream))
    return gateway.summary


def _in_process(processor: RecordProcessor, items: Iterable[Item], name: str) -> Iterator[Routed]:
    for line, item in items:
        yield processor.process(item, Position(name, line))[0]


def _in_pool(pool: Pool, items: Iterable[Item], name: str, workers: int) -> Iterator[Routed]:
    pending: deque[AsyncResult[list[Routed]]] = deque()
    for chunk in _chunks(items, CHUNK_RECORDS):
        pending.append(pool.apply_async(_process_chunk, (name, chunk)))
        if len(pending) >= workers * CHUNKS_IN_FLIGHT_PER_WORKER:
            yield from pending.popleft().get()
    while pending:
        yield from pending.popleft().get()


def _chunks(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _pool(settings: Settings, kind: RecordKind, partitions: int, workers: int) -> Pool:
    # spawn, not fork: a forked child would inherit librdkafka's threads' locks in unknown states.
    context = multiprocessing.get_context("spawn")
    return context.Pool(workers, initializer=_init_worker, initargs=(settings, kind, partitions))


def _init_worker(settings: Settings, kind: RecordKind, partitions: int) -> None:
    global _worker_processor  # one processor per worker process, built once
    _worker_processor = RecordProcessor(
        settings, default_codec(), kind, channel="file", partitions=partitions
    )


def _process_chunk(name: str, chunk: list[Item]) -> list[Routed]:
    processor = _worker_processor
    assert processor is not None, "worker used before its initializer ran"
    return [processor.process(item, Position(name, line))[0] for line, item in chunk]


def _tell(stream: IO[bytes]) -> int:
    try:
        return stream.tell()
    except OSError:  # a pipe has no position
        return 0
