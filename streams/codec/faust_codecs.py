"""Faust codecs, one per record type, that encode and decode with an `AvroCodec`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from faust.serializers import codecs as faust_codecs

from streams.codec.avro import AvroCodec
from streams.codec.default import default_codec

# Faust models add this key to their dict form; it is not part of any contract.
_FAUST_METADATA_KEY = "__faust"


class AvroRecordCodec(faust_codecs.Codec):
    """A Faust codec for one record type: `value_serializer="avro-raw-alert"` and the like.

    Faust gives codecs no Kafka position, so decode errors here name none; agents that need it call
    `AvroCodec.decode_as` on the raw bytes instead.

    Args:
        children: further codecs to chain, as Faust does.
        avro: the codec to use; `default_codec()` when None.
    """

    record_type: ClassVar[str]
    codec_name: ClassVar[str]

    def __init__(self, children: tuple[Any, ...] | None = None, *, avro: AvroCodec | None = None) -> None:
        # Faust's `clone` passes kwargs back to the constructor, so `avro` survives chaining.
        super().__init__(children, avro=avro)
        self._avro = avro

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, Mapping) and _FAUST_METADATA_KEY in obj:
            obj = {key: value for key, value in obj.items() if key != _FAUST_METADATA_KEY}
        return (self._avro or default_codec()).encode(self.record_type, obj)

    def _loads(self, s: bytes) -> Any:
        return (self._avro or default_codec()).decode_as(self.record_type, s)


class RawAlertCodec(AvroRecordCodec):
    """`avro-raw-alert`: RawAlert on alerts.raw."""

    record_type = "RawAlert"
    codec_name = "avro-raw-alert"


class TaskCodec(AvroRecordCodec):
    """`avro-task`: Task on tasks."""

    record_type = "Task"
    codec_name = "avro-task"


class TaskEventCodec(AvroRecordCodec):
    """`avro-task-event`: TaskEvent on tasks.events."""

    record_type = "TaskEvent"
    codec_name = "avro-task-event"


class SlaEventCodec(AvroRecordCodec):
    """`avro-sla-event`: SlaEvent on sla.events."""

    record_type = "SlaEvent"
    codec_name = "avro-sla-event"


class VictimRecordCodec(AvroRecordCodec):
    """`avro-victim-record`: VictimRecord on victims.history."""

    record_type = "VictimRecord"
    codec_name = "avro-victim-record"


class DeadLetterCodec(AvroRecordCodec):
    """`avro-dead-letter`: DeadLetter on alerts.dlq."""

    record_type = "DeadLetter"
    codec_name = "avro-dead-letter"


class PersonFactCodec(AvroRecordCodec):
    """`avro-person-fact`: PersonFact on persons.facts."""

    record_type = "PersonFact"
    codec_name = "avro-person-fact"


class SlaTickCodec(AvroRecordCodec):
    """`avro-sla-tick`: SlaTick on sla.ticks."""

    record_type = "SlaTick"
    codec_name = "avro-sla-tick"


class AlertVerdictCodec(AvroRecordCodec):
    """`avro-alert-verdict`: AlertVerdict on alerts.index."""

    record_type = "AlertVerdict"
    codec_name = "avro-alert-verdict"


class ResolverTickCodec(AvroRecordCodec):
    """`avro-resolver-tick`: ResolverTick on resolver.ticks."""

    record_type = "ResolverTick"
    codec_name = "avro-resolver-tick"


FAUST_CODECS: tuple[type[AvroRecordCodec], ...] = (
    RawAlertCodec,
    TaskCodec,
    TaskEventCodec,
    SlaEventCodec,
    VictimRecordCodec,
    DeadLetterCodec,
    PersonFactCodec,
    SlaTickCodec,
    AlertVerdictCodec,
    ResolverTickCodec,
)


def register_faust_codecs(avro: AvroCodec | None = None) -> dict[str, AvroRecordCodec]:
    """Register one Faust codec per record type under its name, e.g. `avro-raw-alert`.

    Args:
        avro: the codec they use; `default_codec()` (resolved at first use) when None.

    Returns:
        The registered codecs by name.
    """
    registered: dict[str, AvroRecordCodec] = {}
    for codec_class in FAUST_CODECS:
        codec = codec_class(avro=avro)
        faust_codecs.register(codec_class.codec_name, codec)
        registered[codec_class.codec_name] = codec
    return registered
