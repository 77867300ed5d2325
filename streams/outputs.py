"""Agent outputs through librdkafka, delivered before Faust commits the inputs that caused them.

Faust's own producer path (send_soon -> its buffer -> aiokafka) costs ~0.2 ms of the worker's single
core per message; librdkafka's `produce()` costs a few microseconds and batches in its own threads.
Correctness rests on one hook: before Faust commits input offsets it flushes its producer, and
`RiskAlertApp` makes that flush also wait for every output queued here (and fail the commit if any
was not delivered). So an input counts as done only after its outputs are in Kafka, as before.
Table changelogs stay on Faust's producer: Faust tracks their offsets for recovery.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import faust
from faust.types import ConsumerT, ProducerT

from streams.fetching import snapshot_active_partitions
from streams.producer import CheckedProducer
from streams.settings import Settings

# Outputs are latency-sensitive (pages, breaches): a short linger, still batching under load.
OUTPUT_LINGER_MS = 5


class OutputSink(Protocol):
    """What agents need to produce: queue a record, and flush before a commit."""

    def send(self, topic: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        """Queue one record on a logical topic."""

    async def flush(self) -> None:
        """Deliver everything queued."""


class Outputs:
    """Produces agents' output records; `flush()` runs before every offset commit."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer = CheckedProducer(settings, **{"linger.ms": OUTPUT_LINGER_MS})

    def send(self, topic: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        """Queue one record on a logical topic (e.g. `tasks`), keyed (murmur2) or on a given partition."""
        self._producer.produce(self._settings.topic(topic), key, value, partition)

    async def flush(self) -> None:
        """Wait until every queued record is delivered.

        Raises:
            ProduceError: a record was not delivered; the commit fails and the inputs are redone.
        """
        await asyncio.get_running_loop().run_in_executor(None, self._producer.flush)


class RiskAlertApp(faust.App):
    """The Faust app, whose producer flush (run before every commit) also flushes `outputs`, and whose
    consumer fetches with a snapshot of its active partitions (`streams/fetching.py`)."""

    outputs: OutputSink | None = None

    def _new_consumer(self) -> ConsumerT:
        consumer = super()._new_consumer()
        # faust calls `self._getmany(active_partitions=..., timeout=...)` from `Consumer.getmany`;
        # ConsumerT does not declare that private method, hence the ignore.
        consumer._getmany = snapshot_active_partitions(consumer._getmany)  # type: ignore[attr-defined]
        return consumer

    def _new_producer(self) -> ProducerT:
        producer = super()._new_producer()
        flush_faust = producer.flush

        async def flush() -> None:
            await flush_faust()
            if self.outputs is not None:
                await self.outputs.flush()

        # faust calls `app.producer.flush()` in Consumer._commit_tps right before committing offsets.
        producer.flush = flush  # type: ignore[method-assign]
        return producer


def new_app(app_id: str, outputs: OutputSink, **config: Any) -> RiskAlertApp:
    """A RiskAlertApp with its outputs attached."""
    app = RiskAlertApp(app_id, **config)
    app.outputs = outputs
    return app
