"""Reading topics back in integration tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from streams.codec import default_codec
from streams.kafka_admin import ensure_topics
from streams.settings import Settings
from streams.topics import ALL_TOPICS


@dataclass(frozen=True)
class Read:
    """One message read back: position, raw bytes and the decoded record."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    record: dict[str, object]


def read_all(settings: Settings, topic: str, timeout_seconds: float = 30.0) -> list[Read]:
    """Every message now in `topic`, from every partition, decoded."""
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"read-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {}
        for partition in partitions:
            low, high = _watermarks(consumer, TopicPartition(topic, partition))
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, partition, 0) for partition in ends])
        return list(_until_ends(consumer, ends, timeout_seconds))
    finally:
        consumer.close()


def _watermarks(consumer: Consumer, partition: TopicPartition) -> tuple[int, int]:
    # Right after topic creation a partition's leader may not be known yet; ask again briefly.
    for _ in range(50):
        try:
            low, high = consumer.get_watermark_offsets(partition, timeout=10)
            return int(low), int(high)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.NOT_LEADER_FOR_PARTITION:
                raise
            time.sleep(0.2)
    raise AssertionError(f"no leader for {partition}")


def _until_ends(consumer: Consumer, ends: dict[int, int], timeout_seconds: float) -> Iterator[Read]:
    codec = default_codec()
    remaining = dict(ends)
    deadline = time.monotonic() + timeout_seconds
    errors = []
    while time.monotonic() < deadline:
        if not remaining:
            return
        message = consumer.poll(0.2)
        if message is None:
            continue
        if message.error() is not None:
            errors.append(str(message.error()))
            continue
        _, record = codec.decode(
            message.value(), topic=message.topic(), partition=message.partition(), offset=message.offset()
        )
        yield Read(
            message.topic(), message.partition(), message.offset(), message.key(), message.value(), record
        )
        if message.offset() + 1 >= remaining.get(message.partition(), 0):
            remaining.pop(message.partition(), None)
    raise AssertionError(
        f"timed out reading; partitions not read to the end: {remaining}; errors: {errors[:3]}"
    )


def create_prefixed_topics(settings: Settings) -> None:
    """The declared topics under `settings.topic_prefix`."""
    report = ensure_topics(settings, ALL_TOPICS)
    assert not report.drift, report.drift


def delete_prefixed_topics(settings: Settings) -> None:
    """Remove every topic under `settings.topic_prefix`."""
    admin = AdminClient(settings.kafka_client_config())
    names = [name for name in admin.list_topics(timeout=10).topics if name.startswith(settings.topic_prefix)]
    if names:
        for future in admin.delete_topics(names).values():
            future.result(timeout=30)


def topic_size(settings: Settings, topic: str) -> int:
    """How many records the topic holds now (sum of its partitions' high watermarks minus low)."""
    consumer = Consumer({**settings.kafka_client_config(), "group.id": f"size-{uuid.uuid4().hex}"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for partition in partitions:
            low, high = _watermarks(consumer, TopicPartition(topic, partition))
            total += high - low
        return total
    finally:
        consumer.close()
