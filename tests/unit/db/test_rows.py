"""Decoded records to table rows: every contract field lands in its column, and only contract fields."""

from __future__ import annotations

import re
from typing import Any

import pytest

from streams.db import rows
from streams.db.migrate import load_migrations, statements
from streams.schema_catalog import default_catalog

TABLE_RECORD = {
    rows.ALERTS: ("RawAlert", rows.ALERT_COLUMNS),
    rows.TASKS: ("Task", rows.TASK_COLUMNS),
    rows.TASK_EVENTS: ("TaskEvent", rows.TASK_EVENT_COLUMNS),
    rows.SLA_EVENTS: ("SlaEvent", rows.SLA_EVENT_COLUMNS),
    rows.VICTIM_CASES: ("VictimRecord", rows.VICTIM_CASE_COLUMNS),
}
ALERT_EXTRA_COLUMNS = {"dedup_outcome", "task_id", "kafka_topic", "kafka_partition", "kafka_offset"}


def _fields(record_type: str) -> list[dict[str, Any]]:
    fields: list[dict[str, Any]] = default_catalog().current[record_type].schema["fields"]
    return fields


def _ddl_columns(table: str) -> list[str]:
    [ddl] = [
        sql
        for migration in load_migrations()
        for sql in statements(migration.text, database="rk", ttl_days=1)
        if re.search(rf"CREATE TABLE IF NOT EXISTS rk\.{table}\n", sql)
    ]
    body = ddl.split("\n(\n", 1)[1].split("\n)\n", 1)[0]
    return [line.split()[0] for line in body.splitlines() if line.strip()]


@pytest.mark.parametrize("table", sorted(TABLE_RECORD))
def test_columns_are_the_contract_fields_and_match_the_ddl(table: str) -> None:
    record_type, columns = TABLE_RECORD[table]
    unstored = rows.UNSTORED_FIELDS.get(record_type, frozenset())
    contract = [field["name"] for field in _fields(record_type) if field["name"] not in unstored]
    extra = ALERT_EXTRA_COLUMNS if table == rows.ALERTS else set()
    assert sorted(columns) == sorted([*contract, *extra])
    assert len(set(columns)) == len(columns)
    assert _ddl_columns(table) == list(columns)


@pytest.mark.parametrize("record_type", ["RawAlert", "Task", "TaskEvent", "SlaEvent", "VictimRecord"])
def test_defaults_are_the_avro_defaults(record_type: str) -> None:
    expected = {field["name"]: field["default"] for field in _fields(record_type) if "default" in field}
    assert rows.AVRO_DEFAULTS[record_type] == expected


def _sla_event(**changes: Any) -> dict[str, Any]:
    event = {
        "event_id": "T1:RECEPTION:1:MET",
        "task_id": "T1",
        "step": "RECEPTION",
        "cycle": 1,
        "kind": "MET",
        "due_at": 1_767_225_600_000,
        "detected_at": 1_767_225_500_000,
        "completed_at": 1_767_225_400_000,
        "implied": False,
        "overdue_by_ms": 0,
        "level": "HIGH",
        "station_code": "S1",
        "region_code": "R1",
        "fraud_type": "ROMANCE",
        "sources": ["JZZ", "BANK"],
    }
    return {**event, **changes}


def test_row_values_follow_the_column_order_and_keep_epoch_millis() -> None:
    row = rows.sla_event_row(_sla_event())
    assert dict(zip(rows.SLA_EVENT_COLUMNS, row, strict=True)) == _sla_event()


def test_optional_fields_take_their_defaults_and_required_ones_are_named() -> None:
    event = _sla_event()
    del event["completed_at"]
    assert dict(zip(rows.SLA_EVENT_COLUMNS, rows.sla_event_row(event), strict=True))["completed_at"] is None
    del event["station_code"]
    with pytest.raises(ValueError, match="SlaEvent record has no field 'station_code'"):
        rows.sla_event_row(event)


def _alert() -> dict[str, Any]:
    values: dict[str, Any] = {field["name"]: f"v-{field['name']}" for field in _fields("RawAlert")}
    return {**values, "issued_at": 1, "ingested_at": 2, "amount_at_risk_fen": 3, "extras": {"k": "v"}}


def test_alert_row_adds_dedup_outcome_task_and_kafka_position() -> None:
    position = rows.KafkaPosition("alerts.raw", 4, 1234)
    alert_row = rows.alert_row(_alert(), position, dedup_outcome="merged", task_id="T9")
    row = dict(zip(rows.ALERT_COLUMNS, alert_row, strict=True))
    assert row["alert_key"] == "v-alert_key"
    assert row["extras"] == {"k": "v"}
    assert (row["dedup_outcome"], row["task_id"]) == ("merged", "T9")
    assert (row["kafka_topic"], row["kafka_partition"], row["kafka_offset"]) == ("alerts.raw", 4, 1234)


def test_alert_row_defaults_to_unknown_outcome_and_no_task() -> None:
    row = dict(zip(rows.ALERT_COLUMNS, rows.alert_row(_alert(), rows.KafkaPosition("t", 0, 0)), strict=True))
    assert (row["dedup_outcome"], row["task_id"]) == ("unknown", "")


def test_alert_row_refuses_an_unknown_outcome() -> None:
    with pytest.raises(ValueError, match="dedup_outcome 'fresh' is not one of new, merged"):
        rows.alert_row(_alert(), rows.KafkaPosition("t", 0, 0), dedup_outcome="fresh")


def test_by_record_type_covers_every_table_but_alerts() -> None:
    assert {spec.table for spec in rows.BY_RECORD_TYPE.values()} == set(TABLE_RECORD) - {rows.ALERTS}
    for record_type, spec in rows.BY_RECORD_TYPE.items():
        assert TABLE_RECORD[spec.table] == (record_type, spec.columns)
