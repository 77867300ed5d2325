"""murmur2 matches Kafka's Java implementation (vectors from Kafka's own UtilsTest)."""

from __future__ import annotations

import pytest

from streams.partitioning import kafka_partition, murmur2


def _signed(value: int) -> int:
    return value - (1 << 32) if value >= 1 << 31 else value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # org.apache.kafka.common.utils.UtilsTest#testMurmur2
        ("21", -973932308),
        ("foobar", -790332482),
        ("a-little-bit-long-string", -985981536),
        ("a-little-bit-longer-string", -1486304829),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971),
        ("abc", 479470107),
    ],
)
def test_murmur2_matches_kafka_vectors(text: str, expected: int) -> None:
    assert _signed(murmur2(text.encode())) == expected


def test_partition_is_positive_and_in_range() -> None:
    for i in range(1000):
        assert 0 <= kafka_partition(f"person-{i}", 6) < 6
