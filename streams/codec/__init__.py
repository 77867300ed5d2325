"""Avro encoding of every record, in the Confluent wire format.

A message value is one magic byte `0x00`, the writer schema's id as 4 big-endian bytes, then the
schemaless Avro body. Ids come from a `SchemaIds`: by default `LocalSchemaIds`, derived from the schema
files so every process agrees without a registry; with `RISKALERT_SCHEMA_REGISTRY_URL` set, from a
Confluent-compatible registry. Every process of one deployment must use the same kind of ids.

Decoding resolves the writer schema (looked up by id) against the current schema, so records written under
an older released version still decode. Decoded timestamps are UTC epoch-ms ints, as the contract defines
them: the codec reads logical types as their underlying Avro types. Encoding accepts ints or aware
datetimes for timestamps.

The modules: `wire` (the header and the decode failures), `avro` (`AvroCodec`), `diagnose` (which field
of a record does not fit, for encode errors), `default` (the process-wide codec and `encode`/`decode`),
`faust_codecs` (one Faust codec per record type). Import the names below from `streams.codec`.
"""

from streams.codec.avro import AvroCodec
from streams.codec.default import decode, default_codec, encode
from streams.codec.faust_codecs import (
    FAUST_CODECS,
    AlertVerdictCodec,
    AvroRecordCodec,
    DeadLetterCodec,
    PersonFactCodec,
    RawAlertCodec,
    ResolverTickCodec,
    SlaEventCodec,
    SlaTickCodec,
    TaskCodec,
    TaskEventCodec,
    VictimRecordCodec,
    register_faust_codecs,
)
from streams.codec.wire import HEADER_BYTES, MAGIC_BYTE

__all__ = [
    "FAUST_CODECS",
    "HEADER_BYTES",
    "MAGIC_BYTE",
    "AlertVerdictCodec",
    "AvroCodec",
    "AvroRecordCodec",
    "DeadLetterCodec",
    "PersonFactCodec",
    "RawAlertCodec",
    "ResolverTickCodec",
    "SlaEventCodec",
    "SlaTickCodec",
    "TaskCodec",
    "TaskEventCodec",
    "VictimRecordCodec",
    "decode",
    "default_codec",
    "encode",
    "register_faust_codecs",
]
