"""Insert blocks in the Avro object container format, built from the Confluent-wire bodies as read.

A Kafka message value is a 5-byte header and a schemaless Avro body. A container file is a header
(magic, the writer schema as JSON, a sync marker) followed by blocks of concatenated bodies, so a batch
of bodies under one writer schema becomes an `INSERT ... FORMAT Avro` block by concatenation alone:
ClickHouse decodes it in C++, outside the Python interpreter's lock, and maps fields to columns by name.
Decoding in Python cost the sink ~11 µs a record, most of its time (docs/benchmarks.md).

Columns a record does not carry (the alerts table's Kafka position, for one) are prepended as fields
of a wider record: Avro encodes a record as its fields' encodings one after the other, so the encoding
of `{prefix fields..., record fields...}` is the prefix's bytes followed by the unchanged body.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MAGIC = b"Obj\x01"


def zigzag_long(value: int) -> bytes:
    """Avro's encoding of a `long`: zig-zag, then base-128 varint."""
    number = (value << 1) ^ (value >> 63)
    out = bytearray()
    while number & ~0x7F:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def avro_string(value: str) -> bytes:
    """Avro's encoding of a `string`: its UTF-8 length as a long, then the bytes."""
    encoded = value.encode()
    return zigzag_long(len(encoded)) + encoded


def widened(schema: Mapping[str, Any], prefix: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """`schema` (a record) with `prefix` fields (name, Avro primitive type) in front of its own."""
    fields = [{"name": name, "type": kind} for name, kind in prefix]
    return {**schema, "fields": [*fields, *schema["fields"]]}


def container(schema: Mapping[str, Any], bodies: Sequence[bytes]) -> bytes:
    """An uncompressed Avro container holding `bodies` (each an encoding under `schema`) in one block.

    The sync marker is derived from the schema, so the same bodies always give the same bytes.
    """
    schema_json = json.dumps(schema, separators=(",", ":"), sort_keys=True).encode()
    sync = hashlib.blake2b(schema_json, digest_size=16).digest()
    data = b"".join(bodies)
    header = b"".join(
        (
            MAGIC,
            zigzag_long(2),  # the metadata map: one block of two entries, then an empty block
            avro_string("avro.codec"),
            zigzag_long(4),
            b"null",
            avro_string("avro.schema"),
            zigzag_long(len(schema_json)),
            schema_json,
            zigzag_long(0),
            sync,
        )
    )
    return b"".join((header, zigzag_long(len(bodies)), zigzag_long(len(data)), data, sync))


def prefixed(prefix: bytes, offsets: Iterable[int] | None, bodies: Iterable[bytes]) -> list[bytes]:
    """Each body behind `prefix` and, when `offsets` are given, its own offset as a long."""
    if offsets is None:
        return [prefix + body for body in bodies]
    return [prefix + zigzag_long(offset) + body for offset, body in zip(offsets, bodies, strict=True)]


# Columns of the alerts table that a RawAlert does not carry, in front of each body: the Kafka offset
# per record, the rest per batch (the dedup verdict is not known when the warning is read).
ALERT_PREFIX = (
    ("kafka_topic", "string"),
    ("kafka_partition", "int"),
    ("dedup_outcome", "string"),
    ("task_id", "string"),
    ("kafka_offset", "long"),
)


def alerts_block(
    schema: Mapping[str, Any], topic: str, partition: int, offsets: Sequence[int], bodies: Sequence[bytes]
) -> bytes:
    """An `alerts` insert block: RawAlert bodies (under `schema`) read at `offsets` of `topic`/`partition`,
    each behind its position, outcome `unknown` and no task id (as `streams.db.rows.alert_row`)."""
    constant = b"".join((avro_string(topic), zigzag_long(partition), avro_string("unknown"), avro_string("")))
    return container(widened(schema, ALERT_PREFIX), prefixed(constant, offsets, bodies))
