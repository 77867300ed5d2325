"""The process-wide codec the settings ask for, and `encode`/`decode` functions that use it."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from streams.codec.avro import AvroCodec
from streams.schema_catalog import default_catalog
from streams.schema_ids import schema_ids_from_settings
from streams.settings import load_settings


@functools.cache
def default_codec() -> AvroCodec:
    """The codec the settings ask for (local ids, or the schema registry), built once per process."""
    return AvroCodec(schema_ids_from_settings(load_settings(), default_catalog()))


def encode(record_type: str, record: Mapping[str, Any]) -> bytes:
    """Encode with `default_codec()`; see `AvroCodec.encode`."""
    return default_codec().encode(record_type, record)


def decode(
    data: bytes, *, topic: str | None = None, partition: int | None = None, offset: int | None = None
) -> tuple[str, dict[str, Any]]:
    """Decode with `default_codec()`; see `AvroCodec.decode`."""
    return default_codec().decode(data, topic=topic, partition=partition, offset=offset)
