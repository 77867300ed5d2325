"""The Avro codec: byte-exact encodings, typed errors, schema ids, history, registry ids, Faust codecs."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import to_parsing_canonical_form
from faust.serializers import codecs as faust_codecs
from hypothesis import given, settings
from hypothesis import strategies as st

import streams.schema_ids
from streams import codec as codec_module
from streams.codec import FAUST_CODECS, AvroCodec, decode, encode, register_faust_codecs
from streams.errors import DecodeError, EncodeError, SchemaError
from streams.schema_catalog import SCHEMAS_DIR, Catalog, load_catalog
from streams.schema_ids import LocalSchemaIds, RegistrySchemaIds, schema_ids_from_settings
from streams.settings import Settings

RECORDS = {
    "RawAlert": {
        "alert_key": "JZZ:JZZ-20240301-0001",
        "source": "JZZ",
        "source_alert_id": "JZZ-20240301-0001",
        "issued_at": 1_709_251_200_000,
        "ingested_at": 1_709_251_201_500,
        "level": "HIGH",
        "fraud_type": "FAKE_INVESTMENT",
        "station_code": "370202-PS01",
        "region_code": "370202",
        "person_key": "5f" * 32,
        "person_key_kind": "ID_NUMBER",
        "masked_name": "张*",
        "masked_phone": "138****5678",
        "age_band": "AGE_60_PLUS",
        "resident_type": "LOCAL",
        "amount_at_risk_fen": 5_000_000,
        "suspect_account_hash": None,
        "channel": "CALL",
        "extras": {"platform": "jzz"},
    },
    "Task": {
        "task_id": "T-7f3a",
        "version": 3,
        "person_key": "5f" * 32,
        "person_flagged": False,
        "level": "CRITICAL",
        "base_level": "HIGH",
        "level_raised_for_prior_victim": True,
        "fraud_type": "FAKE_INVESTMENT",
        "station_code": "370202-PS01",
        "region_code": "370202",
        "sources": ["JZZ", "MPS_FUND"],
        "alert_keys": ["JZZ:JZZ-20240301-0001", "MPS_FUND:F-9"],
        "first_alert_key": "JZZ:JZZ-20240301-0001",
        "created_at": 1_709_251_200_000,
        "updated_at": 1_709_251_260_000,
        "status": "OPEN",
        "closed_at": None,
        "amount_at_risk_fen": 5_000_000,
        "masked_name": "张*",
        "masked_phone": None,
        "age_band": "AGE_60_PLUS",
        "resident_type": "LOCAL",
        "prior_victim": True,
        "prior_case_count": 1,
        "prior_loss_total_fen": 1_200_000,
        "last_case_at": 1_690_000_000_000,
        "relatives_with_history": 0,
        "prior_warnings_90d": 2,
        "prior_fraud_types": ["ROMANCE"],
    },
    "TaskEvent": {
        "event_id": "0f" * 16,
        "task_id": "T-7f3a",
        "type": "FEEDBACK",
        "occurred_at": 1_709_252_000_000,
        "ingested_at": 1_709_252_000_250,
        "source_system": "JZZ",
        "assignee": None,
        "assignee_type": None,
        "verify_method": None,
        "verify_result": None,
        "outcome": "DISSUADED",
        "amount_protected_fen": 5_000_000,
        "amount_lost_fen": 0,
        "measure": None,
        "was_dissuaded": None,
        "note": "劝阻成功",
        "extras": {},
        "alert_ref": None,
    },
    "SlaEvent": {
        "event_id": "T-7f3a:DISPATCH:1:MET_LATE",
        "task_id": "T-7f3a",
        "step": "DISPATCH",
        "cycle": 1,
        "kind": "MET_LATE",
        "due_at": 1_709_251_380_000,
        "detected_at": 1_709_251_400_000,
        "completed_at": 1_709_251_390_000,
        "implied": False,
        "overdue_by_ms": 10_000,
        "level": "CRITICAL",
        "station_code": "370202-PS01",
        "region_code": "370202",
        "fraud_type": "FAKE_INVESTMENT",
        "sources": ["JZZ", "MPS_FUND"],
    },
    "VictimRecord": {
        "case_id": "A3702022023000123",
        "person_key": "5f" * 32,
        "relative_keys": ["6a" * 32],
        "case_at": 1_690_000_000_000,
        "loss_fen": 1_200_000,
        "fraud_type": "ROMANCE",
        "station_code": None,
        "ingested_at": 1_709_000_000_000,
    },
    "DeadLetter": {
        "stage": "ingest",
        "reason": "invalid_id_number",
        "error": "id_number: bad check digit",
        "original_topic": None,
        "partition": None,
        "offset": None,
        "input_name": "alerts.jsonl",
        "input_line": 17,
        "redacted_payload": '{"id_number": "***"}',
        "failed_at": 1_709_251_200_000,
    },
    "PersonFact": {
        "kind": "FEEDBACK",
        "person_key": "9f" * 32,
        "victim_key": None,
        "case_id": None,
        "task_id": "T0123456789abcdef0123456",
        "outcome": "DISSUADED",
        "at": 1_709_251_200_000,
    },
    "SlaTick": {
        "task_id": "T0123456789abcdef0123456",
        "due_at": 1_709_251_200_000,
        "sent_at": 1_709_251_200_500,
    },
    "AlertVerdict": {
        "alert_key": "JZZ:JZZ-20240301-0001",
        "source": "JZZ",
        "source_alert_id": "JZZ-20240301-0001",
        "task_id": "T0123456789abcdef0123456",
        "outcome": "MERGED",
        "decided_at": 1_709_251_200_900,
        "raw_partition": 3,
        "raw_offset": 42,
    },
    "ResolverTick": {
        "alert_key": "JZZ:JZZ-20240301-0001",
        "due_at": 1_709_251_200_000,
        "sent_at": 1_709_251_200_500,
    },
}
# A task event addressed by warning, as it sits on tasks.events.by_ref (the union's record branch).
TASK_EVENT_BY_REF = {
    **RECORDS["TaskEvent"],
    "task_id": "",
    "alert_ref": {"source": "JZZ", "source_alert_id": "JZZ-20240301-0001"},
}
# Computed once from RECORDS and pasted: any change to a schema's wire shape or to the id scheme fails here.
EXPECTED_HEX = {
    "RawAlert": (
        "00708fbab22a4a5a5a3a4a5a5a2d32303234303330312d3030303102224a5a5a2d32303234303330312d303030318090"
        "fcf4be63b8a7fcf4be630202163337303230322d505330310c3337303230320280013566356635663566356635663566"
        "356635663566356635663566356635663566356635663566356635663566356635663566356635663566356635663566"
        "3566000208e5bca02a02163133382a2a2a2a35363738080080ade20400020843414c4c0210706c6174666f726d066a7a"
        "7a00"
    ),
    "Task": (
        "000465c28a0c542d37663361060280013566356635663566356635663566356635663566356635663566356635663566"
        "35663566356635663566356635663566356635663566356635663566356635660000020102163337303230322d505330"
        "310c33373032303204020000042a4a5a5a3a4a5a5a2d32303234303330312d30303031184d50535f46554e443a462d39"
        "002a4a5a5a3a4a5a5a2d32303234303330312d303030318090fcf4be63c0b983f5be63000080ade2040208e5bca02a00"
        "0800010280be9201028090ccbdaf620004021000"
    ),
    "TaskEvent": (
        "003458fb2f4030663066306630663066306630663066306630663066306630663066306630660c542d376633610680e4"
        "ddf5be63f4e7ddf5be6302064a5a5a0000000002000280ade204020000000218e58a9de998bbe68890e58a9f0000"
    ),
    "SlaEvent": (
        "00715d25c734542d376633613a44495350415443483a313a4d45545f4c4154450c542d37663361020208c08c92f5be63"
        "80c594f5be6302e0a893f5be6300a09c0100163337303230322d505330310c3337303230320204020000"
    ),
    "VictimRecord": (
        "007e048f2c22413337303230323230323330303031323380013566356635663566356635663566356635663566356635"
        "663566356635663566356635663566356635663566356635663566356635663566356635663566356602800136613661"
        "366136613661366136613661366136613661366136613661366136613661366136613661366136613661366136613661"
        "366136613661366136613661008090ccbdaf6280be920110008088b485bd63"
    ),
    "DeadLetter": (
        "00475b089d0c696e6765737422696e76616c69645f69645f6e756d6265723469645f6e756d6265723a20626164206368"
        "65636b2064696769740000000218616c657274732e6a736f6e6c0222287b2269645f6e756d626572223a20222a2a2a22"
        "7d8090fcf4be63"
    ),
    "PersonFact": (
        "001104ddb2028001396639663966396639663966396639663966396639663966396639663966396639663966396639663966"
        "3966396639663966396639663966396639663966396600000230543031323334353637383961626364656630313233343536"
        "0212444953535541444544028090fcf4be63"
    ),
    "SlaTick": "0075dbccfe305430313233343536373839616263646566303132333435368090fcf4be63e897fcf4be63",
    "AlertVerdict": (
        "00230608d22a4a5a5a3a4a5a5a2d32303234303330312d3030303102224a5a5a2d32303234303330312d303030313054"
        "303132333435363738396162636465663031323334353602889efcf4be630654"
    ),
    "ResolverTick": ("006cec41dd2a4a5a5a3a4a5a5a2d32303234303330312d303030318090fcf4be63e897fcf4be63"),
}
# task_id "" (00), and after extras the union's record branch (02): source JZZ (02), the id (22 = 17 chars).
TASK_EVENT_BY_REF_HEX = (
    "003458fb2f403066306630663066306630663066306630663066306630663066306630663066000680e4ddf5be63f4e7"
    "ddf5be6302064a5a5a0000000002000280ade204020000000218e58a9de998bbe68890e58a9f000202224a5a5a2d3230"
    "3234303330312d30303031"
)
POSITION = {"topic": "alerts.raw", "partition": 3, "offset": 42}
WHERE = "topic alerts.raw partition 3 offset 42"


@pytest.fixture(scope="module")
def codec() -> AvroCodec:
    return AvroCodec()


def schema_json(record_type: str) -> dict[str, Any]:
    return copy.deepcopy(load_catalog().current[record_type].schema)


# --- Byte-exact encodings -----------------------------------------------------------------------------


@pytest.mark.parametrize("record_type", sorted(RECORDS))
def test_each_record_type_encodes_to_its_committed_bytes(codec: AvroCodec, record_type: str) -> None:
    assert codec.encode(record_type, RECORDS[record_type]).hex() == "".join(EXPECTED_HEX[record_type])


def test_a_task_event_by_alert_ref_encodes_to_its_committed_bytes_and_back(codec: AvroCodec) -> None:
    assert codec.encode("TaskEvent", TASK_EVENT_BY_REF).hex() == TASK_EVENT_BY_REF_HEX
    assert codec.decode(bytes.fromhex(TASK_EVENT_BY_REF_HEX)) == ("TaskEvent", TASK_EVENT_BY_REF)


@pytest.mark.parametrize("record_type", sorted(RECORDS))
def test_each_record_type_round_trips(codec: AvroCodec, record_type: str) -> None:
    data = bytes.fromhex("".join(EXPECTED_HEX[record_type]))
    assert codec.decode(data) == (record_type, RECORDS[record_type])


@pytest.mark.parametrize("record_type", sorted(RECORDS))
def test_the_header_is_magic_byte_and_the_sha256_of_the_canonical_form(
    codec: AvroCodec, record_type: str
) -> None:
    path = next(p for p in SCHEMAS_DIR.glob("*.avsc") if json.loads(p.read_text())["name"] == record_type)
    schema = json.loads(path.read_text())
    digest = hashlib.sha256(to_parsing_canonical_form(schema).encode()).digest()
    expected_id = int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
    data = codec.encode(record_type, RECORDS[record_type])
    assert data[0] == 0
    assert int.from_bytes(data[1:5], "big") == expected_id


def test_timestamps_decode_as_epoch_ms_and_encode_from_datetimes_too(codec: AvroCodec) -> None:
    as_datetime = {
        **RECORDS["DeadLetter"],
        "failed_at": datetime.fromtimestamp(1_709_251_200, tz=UTC),
    }
    data = codec.encode("DeadLetter", as_datetime)
    assert data == bytes.fromhex("".join(EXPECTED_HEX["DeadLetter"]))
    assert codec.decode(data)[1]["failed_at"] == 1_709_251_200_000


def test_fields_with_defaults_may_be_left_out(codec: AvroCodec) -> None:
    sparse = {key: value for key, value in RECORDS["TaskEvent"].items() if value is not None}
    sparse.pop("extras")
    assert codec.encode("TaskEvent", sparse) == codec.encode("TaskEvent", RECORDS["TaskEvent"])


def test_module_functions_use_the_default_local_codec(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISKALERT_SCHEMA_REGISTRY_URL", raising=False)
    codec_module.default_codec.cache_clear()
    data = encode("RawAlert", RECORDS["RawAlert"])
    assert data.hex() == "".join(EXPECTED_HEX["RawAlert"])
    assert decode(data, **POSITION) == ("RawAlert", RECORDS["RawAlert"])


# --- Encode errors ------------------------------------------------------------------------------------

SECRET = "13812345678"  # a raw phone number put where it does not belong: never echoed in errors


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"level": SECRET}, "level", "field 'level' does not fit enum Level (got str)"),
        (
            {"issued_at": SECRET},
            "issued_at",
            "field 'issued_at' does not fit long(timestamp-millis) (got str)",
        ),
        (
            {"person_key": 13812345678},
            "person_key",
            "field 'person_key' does not fit union[null, string] (got int)",
        ),
        ({"amount_at_risk_fen": 2**64}, "amount_at_risk_fen", "field 'amount_at_risk_fen' does not fit long"),
        ({"extras": {"phone": 13812345678}}, "extras", "field 'extras' does not fit map<string> (got dict)"),
        ({"id_number": SECRET}, "id_number", "unexpected field(s) id_number"),
        ({"station_code": None}, "station_code", "field 'station_code' does not fit string (got NoneType)"),
    ],
)
def test_encode_errors_name_the_record_type_and_field_not_the_value(
    codec: AvroCodec, change: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(EncodeError) as caught:
        codec.encode("RawAlert", {**RECORDS["RawAlert"], **change})
    assert str(caught.value).startswith(f"cannot encode RawAlert: {message}")
    assert caught.value.record_type == "RawAlert"
    assert caught.value.field == field
    assert SECRET not in str(caught.value)


def test_a_missing_required_field_is_named(codec: AvroCodec) -> None:
    record = {key: value for key, value in RECORDS["Task"].items() if key != "version"}
    with pytest.raises(EncodeError, match="cannot encode Task: field 'version' is missing") as caught:
        codec.encode("Task", record)
    assert caught.value.field == "version"


def test_unknown_record_types_and_non_mappings_are_refused(codec: AvroCodec) -> None:
    with pytest.raises(
        EncodeError,
        match="unknown record type 'Alert'; known: AlertVerdict, DeadLetter, PersonFact, RawAlert",
    ):
        codec.encode("Alert", {})
    with pytest.raises(EncodeError, match="expected a mapping of fields, got list"):
        codec.encode("Task", [])  # type: ignore[arg-type]  # the wrong type is the point


# --- Decode errors ------------------------------------------------------------------------------------

GOOD = bytes.fromhex("".join(EXPECTED_HEX["RawAlert"]))


@pytest.mark.parametrize(
    ("data", "reason", "detail"),
    [
        (b"", "truncated_header", "0 bytes, shorter than the 5-byte header"),
        (GOOD[:4], "truncated_header", "4 bytes, shorter than the 5-byte header"),
        (b"{" + GOOD[1:], "bad_magic_byte", "magic byte is 0x7b, not 0x00"),
        (b"\x00\x00\x00\x00\x07" + GOOD[5:], "unknown_schema_id", "unknown schema id 7"),
        (GOOD[:5], "truncated_body", "the RawAlert body (schema id 1888467634) ends early"),
        (GOOD[:-7], "truncated_body", "the RawAlert body (schema id 1888467634) ends early"),
        (GOOD + b"\x02", "trailing_bytes", "1 bytes left after the RawAlert body (schema id 1888467634)"),
        (
            GOOD[:27] + b"\x7e" + GOOD[28:],
            "corrupt_body",
            "the RawAlert body (schema id 1888467634) is corrupt",
        ),
    ],
)
def test_decode_errors_name_position_and_reason(
    codec: AvroCodec, data: bytes, reason: str, detail: str
) -> None:
    with pytest.raises(DecodeError) as caught:
        codec.decode(data, **POSITION)
    assert caught.value.reason == reason
    assert str(caught.value).startswith(f"cannot decode record at {WHERE}: {detail}")


def test_decode_errors_without_a_position_say_so(codec: AvroCodec) -> None:
    with pytest.raises(DecodeError, match=r"record at topic \? partition \? offset \?: magic byte"):
        codec.decode(b"\x01\x00\x00\x00\x00")


def test_decode_as_refuses_another_record_type(codec: AvroCodec) -> None:
    task_event = bytes.fromhex("".join(EXPECTED_HEX["TaskEvent"]))
    assert codec.decode_as("TaskEvent", task_event) == RECORDS["TaskEvent"]
    with pytest.raises(DecodeError, match=f"{WHERE}: expected RawAlert, got TaskEvent") as caught:
        codec.decode_as("RawAlert", task_event, **POSITION)
    assert caught.value.reason == "wrong_record_type"


# --- History: records written under a released version ------------------------------------------------


def evolved_catalog(tmp_path: Path) -> Catalog:
    """TaskEvent v2 adds a symbol and an optional field; v1 is the shipped schema."""
    v1 = schema_json("TaskEvent")
    v2 = copy.deepcopy(v1)
    v2["fields"][2]["type"]["symbols"].insert(-1, "REASSIGNED")
    v2["fields"].append({"name": "priority", "type": ["null", "int"], "default": None, "doc": "new"})
    (tmp_path / "history").mkdir()
    (tmp_path / "task_event.avsc").write_text(json.dumps(v2))
    (tmp_path / "history" / "TaskEvent.v1.avsc").write_text(json.dumps(v1))
    (tmp_path / "history" / "TaskEvent.v2.avsc").write_text(json.dumps(v2))
    return load_catalog(tmp_path)


def test_a_record_written_under_an_older_version_decodes_with_defaults(tmp_path: Path) -> None:
    old_bytes = AvroCodec().encode("TaskEvent", RECORDS["TaskEvent"])
    new_codec = AvroCodec(catalog=evolved_catalog(tmp_path))
    assert new_codec.decode(old_bytes) == ("TaskEvent", {**RECORDS["TaskEvent"], "priority": None})
    new_bytes = new_codec.encode("TaskEvent", {**RECORDS["TaskEvent"], "priority": 1})
    assert new_bytes[1:5] != old_bytes[1:5]
    assert new_codec.decode(new_bytes)[1]["priority"] == 1


def test_a_process_that_lacks_the_newer_schema_reports_an_unknown_id(tmp_path: Path) -> None:
    new_bytes = AvroCodec(catalog=evolved_catalog(tmp_path)).encode("TaskEvent", RECORDS["TaskEvent"])
    with pytest.raises(DecodeError) as caught:
        AvroCodec().decode(new_bytes, **POSITION)
    assert caught.value.reason == "unknown_schema_id"


def test_an_incompatible_writer_schema_is_reported_with_its_problems(tmp_path: Path) -> None:
    old = schema_json("TaskEvent")
    old["fields"][1]["type"] = "long"  # task_id was a number in this made-up release
    (tmp_path / "history").mkdir()
    (tmp_path / "task_event.avsc").write_text(json.dumps(schema_json("TaskEvent")))
    (tmp_path / "history" / "TaskEvent.v1.avsc").write_text(json.dumps(old))
    catalog = load_catalog(tmp_path)
    old_bytes = AvroCodec(catalog=Catalog(current={"TaskEvent": catalog.history["TaskEvent"][0]}, history={}))
    data = old_bytes.encode("TaskEvent", {**RECORDS["TaskEvent"], "task_id": 7})
    with pytest.raises(
        DecodeError, match=r"TaskEvent\.task_id: writer type long cannot be read as string"
    ) as caught:
        AvroCodec(catalog=catalog).decode(data, **POSITION)
    assert caught.value.reason == "incompatible_schema"


def test_local_ids_that_collide_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams.schema_ids, "local_schema_id", lambda canonical_form: 7)
    with pytest.raises(SchemaError, match=r"schema id 7 collides: .*\.avsc .* and .*\.avsc"):
        LocalSchemaIds(load_catalog())


def test_versions_that_differ_only_in_docs_share_an_id() -> None:
    catalog = load_catalog()
    ids = LocalSchemaIds(catalog)
    for record_type, version in catalog.current.items():
        assert ids.schema_for(ids.id_for(record_type)) == version.schema


# --- Registry ids -------------------------------------------------------------------------------------


class FakeRegistry:
    """An in-memory Confluent registry: ids count up from 1, one per distinct schema text."""

    def __init__(self) -> None:
        self.texts: dict[int, str] = {}
        self.calls: list[tuple[str, object]] = []

    def register(self, subject: str, schema_str: str) -> int:
        self.calls.append(("register", subject))
        for schema_id, text in self.texts.items():
            if text == schema_str:
                return schema_id
        self.texts[len(self.texts) + 1] = schema_str
        return len(self.texts)

    def lookup(self, schema_id: int) -> str | None:
        self.calls.append(("lookup", schema_id))
        return self.texts.get(schema_id)


def test_registry_ids_register_once_per_subject_with_the_topic_prefix() -> None:
    registry = FakeRegistry()
    codec = AvroCodec(RegistrySchemaIds(registry, load_catalog(), topic_prefix="centre-a."))
    first = codec.encode("RawAlert", RECORDS["RawAlert"])
    codec.encode("RawAlert", RECORDS["RawAlert"])
    codec.encode("TaskEvent", RECORDS["TaskEvent"])
    assert first[:5] == b"\x00\x00\x00\x00\x01"
    assert first[5:] == GOOD[5:]
    assert registry.calls == [
        ("register", "centre-a.alerts.raw-value"),
        ("register", "centre-a.tasks.events-value"),
    ]
    assert json.loads(registry.texts[1]) == schema_json("RawAlert")


def test_registry_ids_look_up_an_unknown_id_once() -> None:
    registry = FakeRegistry()
    data = AvroCodec(RegistrySchemaIds(registry, load_catalog())).encode("Task", RECORDS["Task"])
    registry.calls.clear()
    reader = AvroCodec(RegistrySchemaIds(registry, load_catalog()))
    assert reader.decode(data) == ("Task", RECORDS["Task"])
    assert reader.decode(data) == ("Task", RECORDS["Task"])
    assert registry.calls == [("lookup", 1)]


@pytest.mark.parametrize(
    ("text", "reason"), [(None, "unknown_schema_id"), ("syntax = 'proto3';", "unknown_schema_id")]
)
def test_registry_ids_unknown_or_non_avro_are_unknown(text: str | None, reason: str) -> None:
    registry = FakeRegistry()
    if text is not None:
        registry.texts[1] = text
    codec = AvroCodec(RegistrySchemaIds(registry, load_catalog()))
    with pytest.raises(DecodeError) as caught:
        codec.decode(b"\x00\x00\x00\x00\x01" + GOOD[5:], **POSITION)
    assert caught.value.reason == reason


def test_a_registry_schema_of_another_record_name_is_an_unknown_record_type() -> None:
    registry = FakeRegistry()
    registry.texts[1] = json.dumps({"type": "record", "name": "cn.other.Thing", "fields": []})
    with pytest.raises(DecodeError, match="schema id 1 is 'Thing', not a known record") as caught:
        AvroCodec(RegistrySchemaIds(registry, load_catalog())).decode(b"\x00\x00\x00\x00\x01")
    assert caught.value.reason == "unknown_record_type"


def test_settings_choose_local_or_registry_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = load_catalog()
    assert isinstance(schema_ids_from_settings(Settings(), catalog), LocalSchemaIds)
    monkeypatch.setattr(streams.schema_ids, "ConfluentRegistryClient", lambda url: FakeRegistry())
    settings = Settings(schema_registry_url="http://127.0.0.1:8081", topic_prefix="x.")  # type: ignore[call-arg]
    ids = schema_ids_from_settings(settings, catalog)
    assert isinstance(ids, RegistrySchemaIds)
    assert ids.subject("SlaEvent") == "x.sla.events-value"


# --- Faust codecs -------------------------------------------------------------------------------------


def test_faust_codecs_are_registered_by_name_and_round_trip(codec: AvroCodec) -> None:
    registered = register_faust_codecs(codec)
    assert set(registered) == {
        "avro-raw-alert",
        "avro-task",
        "avro-task-event",
        "avro-sla-event",
        "avro-victim-record",
        "avro-dead-letter",
        "avro-person-fact",
        "avro-sla-tick",
        "avro-alert-verdict",
        "avro-resolver-tick",
    }
    for codec_class in FAUST_CODECS:
        record = RECORDS[codec_class.record_type]
        data = faust_codecs.dumps(codec_class.codec_name, record)
        assert data.hex() == "".join(EXPECTED_HEX[codec_class.record_type])
        assert faust_codecs.loads(codec_class.codec_name, data) == record


def test_faust_codecs_drop_faust_metadata_and_refuse_other_record_types(codec: AvroCodec) -> None:
    raw_alert = register_faust_codecs(codec)["avro-raw-alert"]
    assert raw_alert.dumps({**RECORDS["RawAlert"], "__faust": {"ns": "x.Model"}}) == GOOD
    with pytest.raises(DecodeError, match="expected RawAlert, got TaskEvent"):
        raw_alert.loads(bytes.fromhex("".join(EXPECTED_HEX["TaskEvent"])))


def test_chained_faust_codecs_keep_their_avro_codec(codec: AvroCodec) -> None:
    chained = codec_module.TaskCodec(avro=codec) | faust_codecs.binary()
    data = chained.dumps(RECORDS["Task"])
    assert data != bytes.fromhex("".join(EXPECTED_HEX["Task"]))  # base64 on top
    assert chained.loads(data) == RECORDS["Task"]


# --- Properties ---------------------------------------------------------------------------------------

TEXT = st.text(max_size=40)
EPOCH_MS = st.integers(min_value=0, max_value=4_102_444_800_000)
FEN = st.integers(min_value=0, max_value=2**63 - 1)


def symbols(record_type: str, field: str) -> st.SearchStrategy[str]:
    schema = next(f for f in schema_json(record_type)["fields"] if f["name"] == field)["type"]
    return st.sampled_from(schema["symbols"])


RAW_ALERTS = st.fixed_dictionaries(
    {
        "alert_key": TEXT,
        "source": symbols("RawAlert", "source"),
        "source_alert_id": TEXT,
        "issued_at": EPOCH_MS,
        "ingested_at": EPOCH_MS,
        "level": symbols("RawAlert", "level"),
        "fraud_type": symbols("RawAlert", "fraud_type"),
        "station_code": TEXT,
        "region_code": TEXT,
        "person_key": st.none() | TEXT,
        "person_key_kind": symbols("RawAlert", "person_key_kind"),
        "masked_name": st.none() | TEXT,
        "masked_phone": st.none() | TEXT,
        "age_band": symbols("RawAlert", "age_band"),
        "resident_type": symbols("RawAlert", "resident_type"),
        "amount_at_risk_fen": FEN,
        "suspect_account_hash": st.none() | TEXT,
        "channel": st.none() | TEXT,
        "extras": st.dictionaries(TEXT, TEXT, max_size=4),
    }
)


@settings(max_examples=200, deadline=None)
@given(record=RAW_ALERTS)
def test_any_raw_alert_round_trips(codec: AvroCodec, record: dict[str, Any]) -> None:
    assert codec.decode(codec.encode("RawAlert", record)) == ("RawAlert", record)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=300))
def test_any_bytes_after_a_known_header_decode_or_raise_decode_error(codec: AvroCodec, body: bytes) -> None:
    try:
        record_type, _ = codec.decode(GOOD[:5] + body, **POSITION)
    except DecodeError as exc:
        message = str(exc)
    else:
        message = WHERE if record_type == "RawAlert" else "decoded as another record type"
    assert WHERE in message
