"""What every agent shares: decode with position, bounded retries, dead letters, metrics.

No exception escapes an agent: in faust-streaming an escaped exception acks the event, which would
lose it silently. Each event is handled in a try block, retried a bounded number of times with
backoff, and then written to the dead-letter topic with its topic, partition, offset and reason.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from faust.types import TP

from streams import metrics
from streams.errors import CodecError, DecodeError, EncodeError

if TYPE_CHECKING:
    from faust.types import EventT, StreamT

    from streams.app import Pipeline
    from streams.settings import Settings

log = logging.getLogger(__name__)
RETRY_BASE_SECONDS = 0.2
# Errors no retry can fix: the record itself is bad.
PERMANENT = (DecodeError, EncodeError, KeyError, ValueError, TypeError)


Handler = Callable[["EventT[Any]", dict[str, Any]], Awaitable[None]]


def register(pipeline: Pipeline, stage: str, inputs: tuple[str, ...], handlers: dict[str, Handler]) -> None:
    """Register one agent (concurrency 1) over co-partitioned inputs, dispatching by record type.

    Args:
        pipeline: the app and its shared pieces.
        stage: the agent's name, used in metrics and dead letters.
        inputs: logical topic names, all keyed alike.
        handlers: record type (e.g. `RawAlert`) -> coroutine taking the event and the decoded record.
    """
    app, settings = pipeline.app, pipeline.settings
    source = app.topic(
        *(settings.topic(name) for name in inputs), key_serializer="raw", value_serializer="raw"
    )

    async def on_event(event: EventT[Any]) -> None:
        record_type, record = decode(pipeline, event)
        handler = handlers.get(record_type)
        if handler is None:
            raise ValueError(f"{record_type} does not belong on {event.message.topic}")
        await handler(event, record)

    @app.agent(source, name=stage, concurrency=1)
    async def agent(stream: StreamT[Any]) -> None:
        async for event in stream.events():
            await handle(pipeline, stage, event, partial(on_event, event))


async def handle(
    pipeline: Pipeline, stage: str, event: EventT[Any], work: Callable[[], Awaitable[None]]
) -> None:
    """Run `work` for one event; retry transient failures; dead-letter the event when it cannot be done."""
    started = time.perf_counter()
    attempts = pipeline.settings.agent_max_attempts
    for attempt in range(1, attempts + 1):
        try:
            await work()
            metrics.AGENT_EVENTS.labels(stage, "ok").inc()
            metrics.AGENT_SECONDS.labels(stage).observe(time.perf_counter() - started)
            return
        except PERMANENT as exc:
            await dead_letter(pipeline, stage, event, reason_code(exc), describe(exc))
            return
        except Exception as exc:  # anything else may be transient (broker, registry): retry, then give up
            if attempt == attempts:
                await dead_letter(pipeline, stage, event, "retries_exhausted", describe(exc))
                return
            log.warning("%s: attempt %d/%d failed at %s: %s", stage, attempt, attempts, _where(event), exc)
            await asyncio.sleep(RETRY_BASE_SECONDS * 2 ** (attempt - 1))


async def dead_letter(pipeline: Pipeline, stage: str, event: EventT[Any], reason: str, error: str) -> None:
    """Write the event to the dead-letter topic with its position; past ingest it holds no raw identifier."""
    message = event.message
    await dead_letter_at(
        pipeline, stage, Where(message.topic, message.partition, message.offset), message.value, reason, error
    )


@dataclass(frozen=True)
class Where:
    """A record's Kafka position."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"topic {self.topic} partition {self.partition} offset {self.offset}"


async def dead_letter_at(
    pipeline: Pipeline, stage: str, where: Where, value: bytes | None, reason: str, error: str
) -> None:
    """Write a record taken from `where` to the dead-letter topic, with the reason and a clear error."""
    value_bytes = pipeline.codec.encode("DeadLetter", dead_letter_record(stage, where, value, reason, error))
    key = f"{where.topic}:{where.partition}:{where.offset}".encode()
    pipeline.outputs.send("alerts.dlq", key, value_bytes)
    metrics.AGENT_EVENTS.labels(stage, "dead_letter").inc()
    metrics.DEAD_LETTERS.labels(stage, reason).inc()
    log.error("%s: dead-lettered %s (%s): %s", stage, where, reason, error)


def dead_letter_record(
    stage: str, where: Where, value: bytes | None, reason: str, error: str
) -> dict[str, Any]:
    """The DeadLetter record of a record taken from `where`; past ingest it holds no raw identifier."""
    return {
        "stage": stage,
        "reason": reason,
        "error": f"{stage} at {where}: {error}",
        "original_topic": where.topic,
        "partition": where.partition,
        "offset": where.offset,
        "input_name": None,
        "input_line": None,
        # Records past ingest carry only keyed hashes and masked fields; base64 keeps them replayable.
        "redacted_payload": base64.b64encode(value or b"").decode()[:8192],
        "failed_at": time.time_ns() // 1_000_000,
    }


def decode(pipeline: Pipeline, event: EventT[Any]) -> tuple[str, dict[str, Any]]:
    """Decode an event's value, naming its position in any error."""
    message = event.message
    return pipeline.codec.decode(
        message.value or b"", topic=message.topic, partition=message.partition, offset=message.offset
    )


async def send(pipeline: Pipeline, topic: str, key: str, record_type: str, record: dict[str, Any]) -> None:
    """Encode and queue one record, keyed as given.

    Queued, not awaited: outputs are flushed before Faust commits the input offsets
    (`streams/outputs.py`), so an output is delivered before its input counts as processed
    (at-least-once), without a wait per record.
    """
    pipeline.outputs.send(topic, key.encode(), pipeline.codec.encode(record_type, record))


def _where(event: EventT[Any]) -> str:
    message = event.message
    return f"topic {message.topic} partition {message.partition} offset {message.offset}"


def reason_code(exc: Exception) -> str:
    """The dead-letter reason code of an exception that failed a record."""
    if isinstance(exc, DecodeError):
        return f"decode_{exc.reason}"
    if isinstance(exc, CodecError):
        return "encode_error"
    return "bad_record"


def describe(exc: Exception) -> str:
    """An exception as a one-line dead-letter error, at most 1,000 characters."""
    return f"{type(exc).__name__}: {exc}"[:1000]


def input_position(event: Any) -> str:
    """An input's `topic:partition:offset`, the key under which its outputs are remembered."""
    message = event.message
    return f"{message.topic}:{message.partition}:{message.offset}"


def is_committed(app: Any, position: str) -> bool:
    """Whether the worker's group committed past `topic:partition:offset` (it is never read again)."""
    topic, partition, offset = position.rsplit(":", 2)
    committed = committed_offset(app, TP(topic, int(partition)))
    return committed is not None and int(offset) < committed


def committed_offset(app: Any, tp: Any) -> int | None:
    """The offset the worker last committed for a partition (the next one to read), if any.

    faust keeps it in `Consumer._committed_offset` and has no public accessor; this is the one place
    riskalert reads it.
    """
    offsets = app.consumer._committed_offset
    return offsets.get(tp)  # type: ignore[no-any-return]  # faust types the mapping loosely


def table_options(settings: Settings) -> dict[str, int]:
    """RocksDB options of every table partition: bounded memtables and block cache.

    Faust's defaults (64 MB memtables, up to three, a 2 GB block cache and 500 MB compressed cache per
    partition's database) let a worker with a dozen partitions grow to gigabytes; these are set by
    `RISKALERT_WORKER_ROCKSDB_*` (docs/operations.md, "Memory").
    """
    return {
        "write_buffer_size": settings.worker_rocksdb_write_buffer_mb * 2**20,
        "max_write_buffer_number": 2,
        "block_cache_size": settings.worker_rocksdb_block_cache_mb * 2**20,
        "block_cache_compressed_size": 0,
    }
