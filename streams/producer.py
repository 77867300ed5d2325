"""The one way riskalert produces to Kafka from outside Faust: confluent-kafka, checked deliveries.

Settings that matter for correctness: `partitioner=murmur2_random` (keys land where aiokafka and Java
put them, so co-partitioning holds), `acks=all` and idempotence (no loss, no duplicates from retries).
Every delivery report is checked; a failed delivery is an error for the caller, never a silent drop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from streams.errors import ProduceError
from streams.settings import Settings

FLUSH_TIMEOUT_SECONDS = 60.0
# Batching tuned for file ingest: up to 20 ms of linger, lz4 batches of up to 1 MiB.
THROUGHPUT_CONFIG: dict[str, str | int | float | bool] = {
    "linger.ms": 20,
    "batch.size": 1_048_576,
    "compression.type": "lz4",
    "queue.buffering.max.messages": 500_000,
}


@dataclass
class DeliveryTally:
    """Delivery reports received so far."""

    delivered: int = 0
    failures: list[str] = field(default_factory=list)

    def on_delivery(self, error: KafkaError | None, message: Message) -> None:
        """The delivery callback: count successes, remember failures with their topic."""
        if error is None:
            self.delivered += 1
        else:
            self.failures.append(f"{message.topic()}: {error.str()}")


class CheckedProducer:
    """A confluent-kafka producer whose every delivery is confirmed before `flush()` returns."""

    def __init__(self, settings: Settings, **overrides: str | int | float | bool) -> None:
        config = {
            **settings.kafka_client_config(),
            "partitioner": "murmur2_random",
            "acks": "all",
            "enable.idempotence": True,
            **THROUGHPUT_CONFIG,
            **overrides,
        }
        self._producer = Producer(config)
        self.tally = DeliveryTally()
        self.sent = 0

    def produce(
        self, topic: str, key: bytes | str | None, value: bytes, partition: int | None = None
    ) -> None:
        """Queue one record; waits for queue space instead of failing when the local queue is full.

        Args:
            topic: the full topic name.
            key: the message key.
            value: the encoded record.
            partition: an explicit partition; None lets murmur2 place the key.
        """
        # -1 is librdkafka's "unassigned": the configured partitioner (murmur2) places the key.
        target = -1 if partition is None else partition
        while True:
            try:
                self._producer.produce(
                    topic, key=key, value=value, partition=target, on_delivery=self.tally.on_delivery
                )
                self.sent += 1
                self._producer.poll(0)
                return
            except BufferError:
                self._producer.poll(0.05)
            except KafkaException as exc:
                raise ProduceError(f"produce to {topic} failed: {exc}") from exc

    def partition_count(self, topic: str) -> int:
        """How many partitions the broker reports for a topic.

        Raises:
            ProduceError: if the topic does not exist.
        """
        try:
            metadata = self._producer.list_topics(topic, timeout=30)
        except KafkaException as exc:
            raise ProduceError(f"cannot read metadata of {topic}: {exc}") from exc
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            raise ProduceError(f"topic {topic} does not exist: run `riskalert topics create`")
        return len(found.partitions)

    def flush(self, timeout_seconds: float = FLUSH_TIMEOUT_SECONDS) -> int:
        """Wait for every delivery report.

        Returns:
            The number of records confirmed by the broker so far.

        Raises:
            ProduceError: if any record was not delivered or the flush timed out.
        """
        remaining = self._producer.flush(timeout_seconds)
        if remaining:
            raise ProduceError(f"{remaining} records were not delivered within {timeout_seconds:.0f}s")
        if self.tally.failures:
            shown = "; ".join(self.tally.failures[:5])
            raise ProduceError(f"{len(self.tally.failures)} records failed delivery: {shown}")
        return self.tally.delivered
