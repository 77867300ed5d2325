"""The sink's records: which table each input topic fills, and a batch's records on their way there.

The consumer thread only checks a record's header (`Records.pending`); ClickHouse decodes the bodies
of a batch sent as one Avro block (`Records.block`, `streams.db.avro_blocks`), and a batch it cannot
take that way is decoded here (`Records.rows`). A record that is bad at either step is dead-lettered
with its topic, partition and offset, and counted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from streams import metrics
from streams.agents.common import Where, dead_letter_record, describe, reason_code
from streams.codec import HEADER_BYTES, AvroCodec
from streams.db import avro_blocks, rows
from streams.errors import CodecError
from streams.logic.batches import Batch

if TYPE_CHECKING:
    from streams.producer import CheckedProducer
    from streams.settings import Settings

log = logging.getLogger(__name__)

STAGE = "sink"
# Logical input topic -> the record type it carries.
RECORD_TYPES = {
    "alerts.raw": "RawAlert",
    "tasks": "Task",
    "tasks.events": "TaskEvent",
    "sla.events": "SlaEvent",
    "victims.history": "VictimRecord",
    "alerts.index": "AlertVerdict",
}
INPUTS = tuple(RECORD_TYPES)
# Logical input topic -> (table, columns).
TABLES = {
    "alerts.raw": (rows.ALERTS, rows.ALERT_COLUMNS),
    **{
        topic: (rows.BY_RECORD_TYPE[kind].table, rows.BY_RECORD_TYPE[kind].columns)
        for topic, kind in RECORD_TYPES.items()
        if kind != "RawAlert"
    },
}

# One record read: its message value, its writer schema id and whether that is the record type's
# current schema; None once it was dead-lettered (a bad header, or the wrong record type for its topic).
Pending = tuple[bytes, int, bool] | None
# A batch's records still alive: (offset, (value, schema id, current)).
Live = Sequence[tuple[int, tuple[bytes, int, bool]]]


class Records:
    """Records to rows for the sink: header checks, Avro blocks, decoding here, and dead letters."""

    def __init__(self, settings: Settings, codec: AvroCodec, dead_letters: CheckedProducer) -> None:
        self.settings = settings
        self.codec = codec
        self.dead_letters = dead_letters
        self.logical = {settings.topic(name): name for name in INPUTS}

    def table(self, topic: str) -> tuple[str, Sequence[str]]:
        """The table (and its columns) the records of the physical `topic` go to."""
        return TABLES[self.logical[topic]]

    def pending(self, topic: str, partition: int, offset: int, value: bytes | None) -> Pending:
        """Check a record's header only: ClickHouse decodes the bodies (`streams.db.avro_blocks`)."""
        data = value or b""
        try:
            record_type, schema_id, current = self.codec.inspect(
                data, topic=topic, partition=partition, offset=offset
            )
            expected = RECORD_TYPES[self.logical[topic]]
            if record_type != expected:
                raise ValueError(f"{record_type} does not belong on {topic} (expected {expected})")
        except (CodecError, ValueError) as exc:  # the record itself is bad
            self.dead_letter(Where(topic, partition, offset), value, reason_code(exc), describe(exc))
            return None
        return data, schema_id, current

    def rows(self, batch: Batch[Pending], live: Live) -> list[rows.Row]:
        """The batch's rows decoded in Python; a record that does not decode is dead-lettered."""
        out: list[rows.Row] = []
        for offset, (value, _, _) in live:
            try:
                record_type, record = self.codec.decode(
                    value, topic=batch.topic, partition=batch.partition, offset=offset
                )
                if record_type == "RawAlert":
                    out.append(
                        rows.alert_row(record, rows.KafkaPosition(batch.topic, batch.partition, offset))
                    )
                else:
                    out.append(rows.BY_RECORD_TYPE[record_type].row(record))
            except (CodecError, KeyError, ValueError, TypeError) as exc:  # the record itself is bad
                where = Where(batch.topic, batch.partition, offset)
                self.dead_letter(where, value, reason_code(exc), describe(exc))
        return out

    def block(self, batch: Batch[Pending], live: Live) -> bytes:
        """The batch as one Avro container: the bodies as read, behind the alerts' position columns."""
        record_type = RECORD_TYPES[self.logical[batch.topic]]
        bodies = [value[HEADER_BYTES:] for _, (value, _, _) in live]
        schema = self.codec.current_schema(record_type)
        if record_type != "RawAlert":
            return avro_blocks.container(schema, bodies)
        offsets = [offset for offset, _ in live]
        return avro_blocks.alerts_block(schema, batch.topic, batch.partition, offsets, bodies)

    def issued_at(self, value: bytes) -> float | None:
        """A warning's issue time in seconds since the epoch; None if it does not decode."""
        try:
            _, alert = self.codec.decode(value)
        except CodecError:
            return None  # a corrupt record; it was dead-lettered
        return float(alert["issued_at"]) / 1000

    def dead_letter(self, where: Where, value: bytes | None, reason: str, error: str) -> None:
        """Send a bad record to the dead-letter topic with its position and reason, and count it."""
        letter = self.codec.encode("DeadLetter", dead_letter_record(STAGE, where, value, reason, error))
        key = f"{where.topic}:{where.partition}:{where.offset}".encode()
        self.dead_letters.produce(self.settings.topic("alerts.dlq"), key, letter)
        metrics.DEAD_LETTERS.labels(STAGE, reason).inc()
        log.error("%s: dead-lettered %s (%s): %s", STAGE, where, reason, error)
