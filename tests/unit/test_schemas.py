"""The Avro contracts: the schema files, their history, and the compatibility checker."""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest

from streams.errors import SchemaError
from streams.schema_catalog import NAMESPACE, RECORD_TOPICS, SCHEMAS_DIR, load_catalog
from streams.schemas_compat import check_backward, check_forward, check_history, unreleased

Schema = dict[str, Any]
CURRENT_FILES = sorted(SCHEMAS_DIR.glob("*.avsc"))
ALL_FILES = CURRENT_FILES + sorted((SCHEMAS_DIR / "history").glob("*.avsc"))


def load(name: str) -> Schema:
    """The current schema of a record type, as JSON."""
    return copy.deepcopy(load_catalog().current[name].schema)


def field_of(schema: Schema, name: str) -> dict[str, Any]:
    return next(field for field in schema["fields"] if field["name"] == name)


def named_types(schema: Any) -> Iterator[dict[str, Any]]:
    """Every named type defined inside a schema, the schema itself included."""
    if isinstance(schema, list):
        for branch in schema:
            yield from named_types(branch)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            yield schema
        for field in schema.get("fields", ()):
            yield from named_types(field["type"])
        for key in ("items", "values", "type"):
            yield from named_types(schema.get(key))


# --- The files ----------------------------------------------------------------------------------------


def test_one_schema_file_per_record_type() -> None:
    assert {path.name for path in CURRENT_FILES} == {
        "raw_alert.avsc",
        "task.avsc",
        "task_event.avsc",
        "sla_event.avsc",
        "victim_record.avsc",
        "dead_letter.avsc",
        "person_fact.avsc",
        "sla_tick.avsc",
        "alert_verdict.avsc",
        "resolver_tick.avsc",
    }
    assert set(load_catalog().current) == set(RECORD_TOPICS)


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda path: path.name)
def test_each_file_parses_on_its_own_in_the_namespace(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    fastavro.parse_schema(schema)
    assert schema["namespace"] == NAMESPACE


@pytest.mark.parametrize("path", CURRENT_FILES, ids=lambda path: path.name)
def test_every_record_field_and_enum_has_a_doc(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    for named in named_types(schema):
        assert named.get("doc"), f"{named['name']} has no doc"
        for field in named.get("fields", ()):
            assert field.get("doc"), f"{named['name']}.{field['name']} has no doc"


@pytest.mark.parametrize("path", CURRENT_FILES, ids=lambda path: path.name)
def test_every_enum_defaults_to_unknown_or_other(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    for named in named_types(schema):
        if named["type"] == "enum":
            expected = "OTHER" if named["name"] == "FraudType" else "UNKNOWN"
            assert named.get("default") == expected, named["name"]
            assert named["symbols"][-1] == expected, f"{named['name']}: the default symbol comes last"


def test_a_named_type_defined_in_several_files_is_identical_everywhere() -> None:
    definitions: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in CURRENT_FILES:
        for named in named_types(json.loads(path.read_text(encoding="utf-8"))):
            first = definitions.setdefault(named["name"], (path.name, named))
            assert first[1] == named, f"{named['name']} differs between {first[0]} and {path.name}"
    assert {"Source", "Level", "FraudType"} <= set(definitions)


# --- The contract (schemas/*.avsc) ----------------------------------------------------------------------

ENUMS = {
    "Source": "MPS_FUND JZZ NAC_APP HOTLINE_96110 BANK TELECOM CALL_110 MANUAL UNKNOWN",
    "Level": "CRITICAL HIGH MEDIUM LOW UNKNOWN",
    "FraudType": "ORDER_BRUSHING FAKE_INVESTMENT FAKE_SHOPPING FAKE_CUSTOMER_SERVICE FAKE_LOAN "
    "FAKE_CREDIT_REPAIR IMPERSONATE_ACQUAINTANCE IMPERSONATE_AUTHORITY ROMANCE GAME_TRADING "
    "MILITARY_PROCUREMENT OTHER",
    "PersonKeyKind": "ID_NUMBER PHONE NONE UNKNOWN",
    "AgeBand": "AGE_UNDER_18 AGE_18_29 AGE_30_44 AGE_45_59 AGE_60_PLUS UNKNOWN",
    "ResidentType": "LOCAL MIGRANT UNKNOWN",
    "TaskEventType": "RECEIVED DISPATCHED VERIFIED FEEDBACK REFEEDBACK_REQUESTED PROTECTIVE_MEASURE "
    "CLOSED VICTIMISED_AFTER_WARNING UNKNOWN",
    "VerifyMethod": "PHONE FACE_TO_FACE UNKNOWN",
    "Outcome": "DISSUADED ALREADY_DEFRAUDED NO_RISK UNREACHABLE REFUSED UNKNOWN",
    "ProtectiveMeasure": "RESTRICT_PAYMENT RESTRICT_CALLS OTHER UNKNOWN",
    "AssigneeType": "OFFICER GRID_WORKER UNKNOWN",
    "TaskStatus": "OPEN CLOSED UNKNOWN",
    "SlaStep": "RECEPTION DISPATCH VERIFICATION FEEDBACK UNKNOWN",
    "SlaEventKind": "AT_RISK_50 AT_RISK_75 BREACHED MET MET_LATE UNKNOWN",
    "DedupOutcome": "NEW MERGED DUPLICATE UNKNOWN",
}
TS = "timestamp-millis"
# Nested records: their fields, in the notation below.
RECORDS = {"AlertRef": "source:Source source_alert_id:string"}
# Field name -> type, in order; `?x` is [null, x] with default null.
CONTRACT = {
    "RawAlert": "alert_key:string source:Source source_alert_id:string issued_at:ts ingested_at:ts "
    "level:Level fraud_type:FraudType station_code:string region_code:string person_key:?string "
    "person_key_kind:PersonKeyKind masked_name:?string masked_phone:?string age_band:AgeBand "
    "resident_type:ResidentType amount_at_risk_fen:long suspect_account_hash:?string channel:?string "
    "extras:map<string>",
    "TaskEvent": "event_id:string task_id:string type:TaskEventType occurred_at:ts ingested_at:ts "
    "source_system:?string assignee:?string assignee_type:?AssigneeType verify_method:?VerifyMethod "
    "verify_result:?string outcome:?Outcome amount_protected_fen:?long amount_lost_fen:?long "
    "measure:?ProtectiveMeasure was_dissuaded:?boolean note:?string extras:map<string> "
    "alert_ref:?AlertRef",
    "AlertVerdict": "alert_key:string source:Source source_alert_id:string task_id:string "
    "outcome:DedupOutcome decided_at:ts raw_partition:int raw_offset:long",
    "ResolverTick": "alert_key:string due_at:ts sent_at:ts",
    "VictimRecord": "case_id:string person_key:string relative_keys:array<string> case_at:ts loss_fen:long "
    "fraud_type:FraudType station_code:?string ingested_at:ts",
    "DeadLetter": "stage:string reason:string error:string original_topic:?string partition:?int "
    "offset:?long input_name:?string input_line:?long redacted_payload:string failed_at:ts",
    "Task": "task_id:string version:long person_key:?string person_flagged:boolean level:Level "
    "base_level:Level level_raised_for_prior_victim:boolean fraud_type:FraudType station_code:string "
    "region_code:string sources:array<Source> alert_keys:array<string> first_alert_key:string "
    "created_at:ts updated_at:ts status:TaskStatus closed_at:?ts amount_at_risk_fen:long "
    "masked_name:?string masked_phone:?string age_band:AgeBand resident_type:ResidentType "
    "prior_victim:boolean prior_case_count:int prior_loss_total_fen:long last_case_at:?ts "
    "relatives_with_history:int prior_warnings_90d:int prior_fraud_types:array<FraudType>",
    "SlaEvent": "event_id:string task_id:string step:SlaStep cycle:int kind:SlaEventKind due_at:ts "
    "detected_at:ts completed_at:?ts implied:boolean overdue_by_ms:long level:Level station_code:string "
    "region_code:string fraud_type:FraudType sources:array<Source>",
}


def shape(schema: Any) -> str:
    """The contract notation of a field type."""
    if isinstance(schema, list):
        assert schema[0] == "null", schema
        assert len(schema) == 2, schema
        return "?" + shape(schema[1])
    if isinstance(schema, dict):
        if schema["type"] == "record":
            fields = " ".join(f"{f['name']}:{shape(f['type'])}" for f in schema["fields"])
            assert fields == RECORDS[schema["name"]], schema["name"]
            return str(schema["name"])
        if schema["type"] == "enum":
            assert schema["symbols"] == ENUMS[schema["name"]].split(), schema["name"]
            return str(schema["name"])
        if schema["type"] == "array":
            return f"array<{shape(schema['items'])}>"
        if schema["type"] == "map":
            return f"map<{shape(schema['values'])}>"
        if schema.get("logicalType") == TS:
            return "ts"
        return shape(schema["type"])
    return str(schema)


@pytest.mark.parametrize("record_type", sorted(CONTRACT))
def test_fields_follow_the_contract_in_order(record_type: str) -> None:
    schema = load(record_type)
    found = " ".join(f"{field['name']}:{shape(field['type'])}" for field in schema["fields"])
    assert found == CONTRACT[record_type]


@pytest.mark.parametrize("record_type", sorted(CONTRACT))
def test_only_nullable_fields_and_extras_have_defaults(record_type: str) -> None:
    for field in load(record_type)["fields"]:
        if isinstance(field["type"], list):
            assert field.get("default", "absent") is None, field["name"]
        elif field["name"] == "extras":
            assert field["default"] == {}
        else:
            assert "default" not in field, f"{field['name']} must be given by every producer"


# --- History ------------------------------------------------------------------------------------------


def test_every_current_schema_reads_and_is_read_by_every_released_version() -> None:
    assert check_history(forward=True) == {}


def test_every_current_schema_is_released() -> None:
    assert unreleased() == [], "snapshot the changed schema as schemas/history/<Name>.v<N+1>.avsc"
    catalog = load_catalog()
    assert {name: [v.version for v in versions] for name, versions in catalog.history.items()} == {
        name: [1, 2] if name == "TaskEvent" else [1] for name in RECORD_TOPICS
    }


def write_schemas(directory: Path, current: dict[str, Schema], history: dict[str, Schema]) -> Path:
    (directory / "history").mkdir(parents=True)
    for file_name, schema in current.items():
        (directory / file_name).write_text(json.dumps(schema), encoding="utf-8")
    for file_name, schema in history.items():
        (directory / "history" / file_name).write_text(json.dumps(schema), encoding="utf-8")
    return directory


def test_a_changed_schema_is_unreleased_and_checked_against_history(tmp_path: Path) -> None:
    changed = load("TaskEvent")
    changed["fields"].append({"name": "priority", "type": "int", "doc": "new, without a default"})
    directory = write_schemas(
        tmp_path, {"task_event.avsc": changed}, {"TaskEvent.v1.avsc": load("TaskEvent")}
    )
    catalog = load_catalog(directory)
    assert unreleased(catalog) == ["TaskEvent"]
    assert check_history(catalog) == {
        "TaskEvent v1": [
            "TaskEvent.priority: the writer has no such field and the reader field has no default"
        ]
    }


@pytest.mark.parametrize(
    ("history_name", "content", "fragment"),
    [
        ("TaskEvent.v1.avsc", "{not json", "not a valid Avro schema"),
        ("TaskEvent.v1.avsc", '{"type": "record", "name": "X", "fields": [{"name": "a"}]}', "not a valid"),
        ("TaskEvent.1.avsc", None, "named <RecordName>.v<N>.avsc"),
        ("Task.v1.avsc", None, "holds TaskEvent, not Task"),
        ("Ghost.v1.avsc", "ghost", "no current schema for Ghost"),
    ],
)
def test_bad_schema_files_are_named(
    tmp_path: Path, history_name: str, content: str | None, fragment: str
) -> None:
    directory = write_schemas(tmp_path, {"task_event.avsc": load("TaskEvent")}, {})
    if content == "ghost":
        content = json.dumps({"type": "record", "name": "Ghost", "fields": []})
    (directory / "history" / history_name).write_text(
        content or json.dumps(load("TaskEvent")), encoding="utf-8"
    )
    with pytest.raises(SchemaError, match=fragment) as caught:
        load_catalog(directory)
    assert history_name in str(caught.value)


def test_two_files_for_one_record_type_are_refused(tmp_path: Path) -> None:
    directory = write_schemas(tmp_path, {"a.avsc": load("Task"), "b.avsc": load("Task")}, {})
    with pytest.raises(SchemaError, match="both define Task"):
        load_catalog(directory)


# --- The compatibility checker ------------------------------------------------------------------------


def drop_default(schema: Schema) -> Schema:
    del field_of(schema, "type")["type"]["default"]
    return schema


def add_required_field(schema: Schema) -> Schema:
    schema["fields"].append({"name": "priority", "type": "int"})
    return schema


def remove_symbol_without_default(schema: Schema) -> Schema:
    enum = drop_default(schema)["fields"][2]["type"]
    enum["symbols"].remove("CLOSED")
    return schema


def set_type(name: str, new_type: Any) -> Callable[[Schema], Schema]:
    def change(schema: Schema) -> Schema:
        field_of(schema, name)["type"] = new_type
        return schema

    return change


def make_required(name: str) -> Callable[[Schema], Schema]:
    def change(schema: Schema) -> Schema:
        field = field_of(schema, name)
        field["type"] = "string"
        del field["default"]
        return schema

    return change


def rename_record(schema: Schema) -> Schema:
    schema["name"] = "TaskEventV2"
    return schema


BREAKING = {
    "field added without default": (add_required_field, "TaskEvent.priority: the writer has no such field"),
    "enum symbol removed, no default": (
        remove_symbol_without_default,
        "TaskEvent.type: writer symbol(s) CLOSED not in reader enum TaskEventType, which has no default",
    ),
    "string to int": (
        set_type("task_id", "int"),
        "TaskEvent.task_id: writer type string cannot be read as int",
    ),
    "long narrowed to int": (
        set_type("amount_lost_fen", ["null", "int"]),
        "TaskEvent.amount_lost_fen: writer type long matches no branch of union[null, int]",
    ),
    "nullable made required": (
        make_required("note"),
        "TaskEvent.note: writer type null cannot be read as string",
    ),
    "map values changed": (
        set_type("extras", {"type": "map", "values": "int"}),
        "TaskEvent.extras{}: writer type string cannot be read as int",
    ),
    "record renamed": (rename_record, "TaskEventV2: writer record TaskEvent is not reader TaskEventV2"),
}


@pytest.mark.parametrize("change", sorted(BREAKING))
def test_breaking_changes_are_reported(change: str) -> None:
    mutate, expected = BREAKING[change]
    problems = check_backward(reader=mutate(load("TaskEvent")), writer=load("TaskEvent"))
    assert any(line.startswith(expected) for line in problems), problems


def add_optional_field(schema: Schema) -> Schema:
    schema["fields"].append({"name": "priority", "type": ["null", "int"], "default": None})
    return schema


def add_symbol(schema: Schema) -> Schema:
    field_of(schema, "type")["type"]["symbols"].insert(-1, "REASSIGNED")
    return schema


def rename_with_alias(schema: Schema) -> Schema:
    field = field_of(schema, "note")
    field["name"], field["aliases"] = "remark", ["note"]
    return schema


COMPATIBLE = {
    "optional field added": add_optional_field,
    "enum symbol added": add_symbol,
    "field removed": lambda schema: {**schema, "fields": schema["fields"][:-1]},
    "field renamed with an alias": rename_with_alias,
    "int promoted to long in a union": set_type("amount_lost_fen", ["null", "long", "double"]),
    "string read as bytes": set_type("task_id", "bytes"),
    "required made nullable": set_type("task_id", ["null", "string"]),
    "timestamp-millis read as its long": set_type("occurred_at", "long"),
}


@pytest.mark.parametrize("change", sorted(COMPATIBLE))
def test_compatible_changes_pass(change: str) -> None:
    assert check_backward(reader=COMPATIBLE[change](load("TaskEvent")), writer=load("TaskEvent")) == []


def test_an_added_symbol_is_forward_compatible_only_through_the_enum_default() -> None:
    new = add_symbol(load("TaskEvent"))
    assert check_forward(new=new, old=load("TaskEvent")) == []
    assert check_forward(new=new, old=drop_default(load("TaskEvent"))) == [
        "TaskEvent.type: writer symbol(s) REASSIGNED not in reader enum TaskEventType, which has no default"
    ]


@pytest.mark.parametrize(
    ("reader", "writer", "compatible"),
    [
        ("long", "int", True),
        ("double", "long", True),
        ("int", "long", False),
        ("string", "bytes", True),
        ({"type": "array", "items": "double"}, {"type": "array", "items": "float"}, True),
        ({"type": "array", "items": "int"}, {"type": "array", "items": "float"}, False),
        ({"type": "fixed", "name": "F", "size": 16}, {"type": "fixed", "name": "F", "size": 16}, True),
        ({"type": "fixed", "name": "F", "size": 16}, {"type": "fixed", "name": "F", "size": 8}, False),
        ({"type": "fixed", "name": "F", "size": 4}, {"type": "fixed", "name": "G", "size": 4}, False),
        (
            {"type": "fixed", "name": "F", "aliases": ["G"], "size": 4},
            {"type": "fixed", "name": "G", "size": 4},
            True,
        ),
        (["null", "string"], "string", True),
        ("string", ["null", "string"], False),
        (["int", "string"], ["string", "int"], True),
        (["null", "long"], ["null", "int"], True),
        ({"type": "long", "logicalType": "timestamp-millis"}, "int", True),
    ],
)
def test_resolution_rules(reader: Any, writer: Any, compatible: bool) -> None:
    assert (check_backward(reader, writer) == []) is compatible


def test_recursive_types_are_checked_without_looping() -> None:
    def linked(value_type: str) -> Schema:
        return {
            "type": "record",
            "name": "Node",
            "fields": [{"name": "value", "type": value_type}, {"name": "next", "type": ["null", "Node"]}],
        }

    assert check_backward(linked("long"), linked("int")) == []
    assert check_backward(linked("int"), linked("long")) == [
        "Node.value: writer type long cannot be read as int"
    ]


def test_invalid_schemas_are_refused() -> None:
    with pytest.raises(SchemaError, match="reader schema is not valid Avro"):
        check_backward({"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}, "int")


# --- Evolution with real bytes ------------------------------------------------------------------------


def v0_task_event() -> Schema:
    """A hand-written older TaskEvent: no was_dissuaded or note, and no VICTIMISED_AFTER_WARNING."""
    schema = load("TaskEvent")
    schema["fields"] = [field for field in schema["fields"] if field["name"] not in ("was_dissuaded", "note")]
    field_of(schema, "type")["type"]["symbols"].remove("VICTIMISED_AFTER_WARNING")
    return schema


def v2_task_event() -> Schema:
    """A hand-written newer TaskEvent: a new symbol and a new optional field."""
    schema = add_optional_field(add_symbol(load("TaskEvent")))
    return schema


def write_then_read(record: dict[str, Any], writer: Schema, reader: Schema) -> dict[str, Any]:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(writer), record)
    buffer.seek(0)
    result = fastavro.schemaless_reader(buffer, fastavro.parse_schema(writer), fastavro.parse_schema(reader))
    assert isinstance(result, dict)
    return result


EVENT = {
    "event_id": "0f" * 16,
    "task_id": "T-1",
    "type": "FEEDBACK",
    "occurred_at": 1_700_000_000_000,
    "ingested_at": 1_700_000_000_500,
    "outcome": "DISSUADED",
    "amount_protected_fen": 1_000_000,
    "extras": {},
}


def test_current_reads_an_older_task_event_filling_defaults() -> None:
    assert check_backward(reader=load("TaskEvent"), writer=v0_task_event()) == []
    record = write_then_read(EVENT, writer=v0_task_event(), reader=load("TaskEvent"))
    assert record["was_dissuaded"] is None
    assert record["note"] is None
    assert record["outcome"] == "DISSUADED"


def test_current_reads_a_newer_task_event_unknown_symbol_as_unknown() -> None:
    assert check_forward(new=v2_task_event(), old=load("TaskEvent")) == []
    record = write_then_read(
        {**EVENT, "type": "REASSIGNED", "priority": 3}, v2_task_event(), load("TaskEvent")
    )
    assert record["type"] == "UNKNOWN"
    assert "priority" not in record
