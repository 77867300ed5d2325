"""A message round-trips through the real broker with confluent-kafka, aiokafka and kcat."""

from __future__ import annotations

import asyncio
import subprocess

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, Producer

from streams.partitioning import kafka_partition
from streams.settings import Settings
from tests.integration.conftest import TopicFactory


def _confluent_producer(settings: Settings) -> Producer:
    # The producer settings riskalert uses: Java-compatible key placement, acks=all, idempotence.
    return Producer(
        {
            **settings.kafka_client_config(),
            "partitioner": "murmur2_random",
            "acks": "all",
            "enable.idempotence": True,
        }
    )


def _produce_confluent(
    settings: Settings, topic: str, records: list[tuple[bytes, bytes]]
) -> dict[bytes, int]:
    producer = _confluent_producer(settings)
    placed: dict[bytes, int] = {}
    failures: list[str] = []

    def on_delivery(err: object, msg: object) -> None:
        if err is not None:
            failures.append(str(err))
        else:
            placed[msg.key()] = msg.partition()  # type: ignore[attr-defined]  # a confluent Message

    for key, value in records:
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert failures == []
    return placed


def _consume_confluent(settings: Settings, topic: str, count: int) -> list[tuple[bytes, bytes, int]]:
    consumer = Consumer(
        {**settings.kafka_client_config(), "group.id": f"g-{topic}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([topic])
    received: list[tuple[bytes, bytes, int]] = []
    try:
        for _ in range(200):
            if len(received) >= count:
                break
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                received.append((message.key(), message.value(), message.partition()))
    finally:
        consumer.close()
    return received


async def _produce_aiokafka(
    settings: Settings, topic: str, records: list[tuple[bytes, bytes]]
) -> dict[bytes, int]:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        placed = {}
        for key, value in records:
            metadata = await producer.send_and_wait(topic, key=key, value=value)
            placed[key] = metadata.partition
        return placed
    finally:
        await producer.stop()


async def _consume_aiokafka(settings: Settings, topic: str, count: int) -> list[tuple[bytes, bytes, int]]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"g-{topic}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        received: list[tuple[bytes, bytes, int]] = []
        while len(received) < count:
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=500), timeout=30)
            for messages in batches.values():
                received.extend((m.key, m.value, m.partition) for m in messages)
        return received
    finally:
        await consumer.stop()


def _kcat(settings: Settings, topic: str) -> list[str]:
    result = subprocess.run(
        [
            "kcat",
            "-b",
            settings.kafka_bootstrap_servers,
            "-C",
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%k|%s|%p\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return sorted(line for line in result.stdout.splitlines() if line)


RECORDS = [(f"person-{i}".encode(), f"人-{i} warning".encode()) for i in range(20)]


def test_confluent_to_aiokafka_and_kcat(settings: Settings, topic_factory: TopicFactory) -> None:
    topic = topic_factory()
    placed = _produce_confluent(settings, topic, RECORDS)
    received = asyncio.run(_consume_aiokafka(settings, topic, len(RECORDS)))
    assert sorted((k, v) for k, v, _ in received) == sorted(RECORDS)
    assert {k: p for k, _, p in received} == placed
    expected_lines = sorted(f"{k.decode()}|{v.decode()}|{placed[k]}" for k, v in RECORDS)
    assert _kcat(settings, topic) == expected_lines


def test_aiokafka_to_confluent(settings: Settings, topic_factory: TopicFactory) -> None:
    topic = topic_factory()
    placed = asyncio.run(_produce_aiokafka(settings, topic, RECORDS))
    received = _consume_confluent(settings, topic, len(RECORDS))
    assert sorted((k, v) for k, v, _ in received) == sorted(RECORDS)
    assert {k: p for k, _, p in received} == placed


def test_keys_land_on_the_same_partition_from_both_clients(
    settings: Settings, topic_factory: TopicFactory
) -> None:
    """Co-partitioning depends on it: confluent's murmur2_random must place keys like aiokafka (and Java)."""
    records = [(f"task-{i:04d}".encode(), b"x") for i in range(300)]
    by_confluent = _produce_confluent(settings, topic_factory(), records)
    by_aiokafka = asyncio.run(_produce_aiokafka(settings, topic_factory(), records))
    assert len(set(by_confluent.values())) == 6  # the keys spread over every partition
    assert by_confluent == by_aiokafka
    # riskalert's own murmur2 (used for explicitly partitioned compacted topics) agrees with both.
    assert by_confluent == {key: kafka_partition(key, 6) for key, _ in records}
