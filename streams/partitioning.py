"""Kafka's default key partitioner (murmur2), for records whose key is not their partitioning key.

A compacted topic needs a key per distinct record (a victim's case), while co-partitioning needs the
partition of the person. Producing with an explicit `partition=kafka_partition(person_key, n)` gives
both: compaction keeps one record per (person, case) and the person's records land where the Java,
aiokafka and librdkafka `murmur2_random` partitioners put the person's other records.
"""

from __future__ import annotations

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's `Utils.murmur2`: a 32-bit hash, returned as an unsigned int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    whole = length & ~3
    for i in range(0, whole, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail == 3:
        h ^= data[whole + 2] << 16
    if tail >= 2:
        h ^= data[whole + 1] << 8
    if tail >= 1:
        h ^= data[whole]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def kafka_partition(key: bytes | str, partitions: int) -> int:
    """The partition Kafka's default partitioner picks for a non-empty key."""
    data = key.encode() if isinstance(key, str) else key
    return (murmur2(data) & 0x7FFFFFFF) % partitions
