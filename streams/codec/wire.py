"""The Confluent wire format's header, and the decode failures named by a bounded reason code.

A message value is one magic byte `0x00`, the writer schema's id as 4 big-endian bytes, then the
schemaless Avro body.
"""

from __future__ import annotations

MAGIC_BYTE = 0
HEADER_BYTES = 5


class BodyError(Exception):
    """Internal to the codec: the message value is bad; carries the bounded reason code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def header(schema_id: int) -> bytes:
    """The 5-byte header of a value written under `schema_id`."""
    return bytes([MAGIC_BYTE]) + schema_id.to_bytes(4, "big")


def schema_id_of(data: bytes) -> int:
    """The writer schema's id from a message value's header.

    Raises:
        BodyError: reason `truncated_header` or `bad_magic_byte`.
    """
    if len(data) < HEADER_BYTES:
        raise BodyError("truncated_header", f"{len(data)} bytes, shorter than the 5-byte header")
    if data[0] != MAGIC_BYTE:
        raise BodyError("bad_magic_byte", f"magic byte is 0x{data[0]:02x}, not 0x00")
    return int.from_bytes(data[1:HEADER_BYTES], "big")


def body_error(record_type: str, schema_id: int, at_end: bool, exc: Exception) -> BodyError:
    """The failure for a body fastavro could not read: truncated when the bytes ran out, else corrupt."""
    reason = "truncated_body" if at_end or isinstance(exc, EOFError) else "corrupt_body"
    what = "ends early" if reason == "truncated_body" else "is corrupt"
    return BodyError(reason, f"the {record_type} body (schema id {schema_id}) {what}: {type(exc).__name__}")


def position(topic: str | None, partition: int | None, offset: int | None) -> str:
    """Where a record was read, for error messages; `?` for what is not known."""
    return f"record at topic {topic or '?'} partition {_shown(partition)} offset {_shown(offset)}"


def _shown(number: int | None) -> str:
    return "?" if number is None else str(number)
