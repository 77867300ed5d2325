"""Decoded Avro records to ClickHouse rows: pure functions, one per table, with its column names.

Records are shaped as `streams.codec` decodes them: enums as their symbol, timestamps as UTC epoch
milliseconds (clickhouse-connect writes an int into DateTime64(3) as milliseconds, unchanged), optional
fields as None. A row is a tuple in the order of the table's `*_COLUMNS`, ready for
`streams.db.insert.insert_rows`. Only fields of the contracts are written, and the contracts carry no
raw identifier: person keys are HMACs, names and phones are masked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from operator import itemgetter
from typing import Any

Row = tuple[Any, ...]

ALERTS = "alerts"
TASKS = "tasks"
TASK_EVENTS = "task_events"
SLA_EVENTS = "sla_events"
VICTIM_CASES = "victim_cases"

DEDUP_OUTCOMES = ("new", "merged", "duplicate", "replayed", "unknown")

RAW_ALERT_FIELDS = (
    "alert_key",
    "source",
    "source_alert_id",
    "issued_at",
    "ingested_at",
    "level",
    "fraud_type",
    "station_code",
    "region_code",
    "person_key",
    "person_key_kind",
    "masked_name",
    "masked_phone",
    "age_band",
    "resident_type",
    "amount_at_risk_fen",
    "suspect_account_hash",
    "channel",
    "extras",
)
ALERT_COLUMNS = (
    *RAW_ALERT_FIELDS,
    "dedup_outcome",
    "task_id",
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
)
TASK_COLUMNS = (
    "task_id",
    "version",
    "person_key",
    "person_flagged",
    "level",
    "base_level",
    "level_raised_for_prior_victim",
    "fraud_type",
    "station_code",
    "region_code",
    "sources",
    "alert_keys",
    "first_alert_key",
    "created_at",
    "updated_at",
    "status",
    "closed_at",
    "amount_at_risk_fen",
    "masked_name",
    "masked_phone",
    "age_band",
    "resident_type",
    "prior_victim",
    "prior_case_count",
    "prior_loss_total_fen",
    "last_case_at",
    "relatives_with_history",
    "prior_warnings_90d",
    "prior_fraud_types",
)
# `alert_ref` (the warning an event was reported against, issue 9) has no column yet: it needs a
# migration of `task_events`; the event's task and id, which every KPI reads, are stored.
UNSTORED_FIELDS: Mapping[str, frozenset[str]] = {"TaskEvent": frozenset({"alert_ref"})}
TASK_EVENT_COLUMNS = (
    "event_id",
    "task_id",
    "type",
    "occurred_at",
    "ingested_at",
    "source_system",
    "assignee",
    "assignee_type",
    "verify_method",
    "verify_result",
    "outcome",
    "amount_protected_fen",
    "amount_lost_fen",
    "measure",
    "was_dissuaded",
    "note",
    "extras",
)
SLA_EVENT_COLUMNS = (
    "event_id",
    "task_id",
    "step",
    "cycle",
    "kind",
    "due_at",
    "detected_at",
    "completed_at",
    "implied",
    "overdue_by_ms",
    "level",
    "station_code",
    "region_code",
    "fraud_type",
    "sources",
)
VICTIM_CASE_COLUMNS = (
    "case_id",
    "person_key",
    "relative_keys",
    "case_at",
    "loss_fen",
    "fraud_type",
    "station_code",
    "ingested_at",
)

# The fields with an Avro default, per record type: a record built by hand may leave them out (a decoded
# record always has every field). A unit test keeps these in step with schemas/.
AVRO_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "RawAlert": {
        "person_key": None,
        "masked_name": None,
        "masked_phone": None,
        "suspect_account_hash": None,
        "channel": None,
        "extras": {},
    },
    "Task": {
        "person_key": None,
        "closed_at": None,
        "masked_name": None,
        "masked_phone": None,
        "last_case_at": None,
    },
    "TaskEvent": {
        "source_system": None,
        "assignee": None,
        "assignee_type": None,
        "verify_method": None,
        "verify_result": None,
        "outcome": None,
        "amount_protected_fen": None,
        "amount_lost_fen": None,
        "measure": None,
        "was_dissuaded": None,
        "note": None,
        "extras": {},
        "alert_ref": None,
    },
    "SlaEvent": {"completed_at": None},
    "VictimRecord": {"station_code": None},
}


@dataclass(frozen=True)
class KafkaPosition:
    """Where a record was read: stored with each alert so an operator can find the message."""

    topic: str
    partition: int
    offset: int


def alert_row(
    alert: Mapping[str, Any],
    position: KafkaPosition,
    *,
    dedup_outcome: str = "unknown",
    task_id: str | None = None,
) -> Row:
    """The `alerts` row of a RawAlert read at `position`.

    Args:
        alert: the decoded RawAlert.
        position: its Kafka topic, partition and offset.
        dedup_outcome: what dedup made of it: new, merged, duplicate, replayed, or unknown.
        task_id: the task it created or joined, when known.

    Raises:
        ValueError: an unknown outcome, or a field missing from the record (both named).
    """
    if dedup_outcome not in DEDUP_OUTCOMES:
        raise ValueError(f"dedup_outcome {dedup_outcome!r} is not one of {', '.join(DEDUP_OUTCOMES)}")
    fields = _pick("RawAlert", alert, RAW_ALERT_FIELDS)
    return (*fields, dedup_outcome, task_id or "", position.topic, position.partition, position.offset)


def task_row(task: Mapping[str, Any]) -> Row:
    """The `tasks` row of one Task version.

    Raises:
        ValueError: a field is missing from the record.
    """
    return _pick("Task", task, TASK_COLUMNS)


def task_event_row(event: Mapping[str, Any]) -> Row:
    """The `task_events` row of a TaskEvent.

    Raises:
        ValueError: a field is missing from the record.
    """
    return _pick("TaskEvent", event, TASK_EVENT_COLUMNS)


def sla_event_row(event: Mapping[str, Any]) -> Row:
    """The `sla_events` row of an SlaEvent.

    Raises:
        ValueError: a field is missing from the record.
    """
    return _pick("SlaEvent", event, SLA_EVENT_COLUMNS)


def victim_case_row(record: Mapping[str, Any]) -> Row:
    """The `victim_cases` row of a VictimRecord.

    Raises:
        ValueError: a field is missing from the record.
    """
    return _pick("VictimRecord", record, VICTIM_CASE_COLUMNS)


@cache
def _getter(fields: tuple[str, ...]) -> Callable[[Mapping[str, Any]], Row]:
    getter = itemgetter(*fields)
    return getter if len(fields) > 1 else lambda record: (getter(record),)


def _pick(record_type: str, record: Mapping[str, Any], fields: tuple[str, ...]) -> Row:
    """The values of `fields`, in order; a missing field takes its Avro default, if it has one."""
    try:
        return _getter(fields)(record)  # a decoded record has every field
    except KeyError:
        pass  # a record built by hand may leave out fields with a default
    defaults = AVRO_DEFAULTS[record_type]
    try:
        return tuple(record[name] if name in record else defaults[name] for name in fields)
    except KeyError as exc:
        raise ValueError(
            f"{record_type} record has no field {exc.args[0]!r}; it cannot become a row"
        ) from exc


@dataclass(frozen=True)
class TableRows:
    """How records of one type become rows of one table (alerts need a position: `alert_row`)."""

    table: str
    columns: tuple[str, ...]
    row: Callable[[Mapping[str, Any]], Row]


BY_RECORD_TYPE: Mapping[str, TableRows] = {
    "Task": TableRows(TASKS, TASK_COLUMNS, task_row),
    "TaskEvent": TableRows(TASK_EVENTS, TASK_EVENT_COLUMNS, task_event_row),
    "SlaEvent": TableRows(SLA_EVENTS, SLA_EVENT_COLUMNS, sla_event_row),
    "VictimRecord": TableRows(VICTIM_CASES, VICTIM_CASE_COLUMNS, victim_case_row),
}
