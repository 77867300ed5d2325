"""Properties of all validators: any input gives an accepted record or a clear rejection, accepted records
fit the Avro contract, and no accepted record carries a raw identifier."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.codec import AvroCodec
from streams.ingest.context import Accepted, IngestContext, Rejected, Result
from streams.ingest.fields import Reason
from streams.ingest.validate import (
    ALERT_FIELDS,
    EVENT_FIELDS,
    VICTIM_FIELDS,
    validate_alert,
    validate_task_event,
    validate_victim,
)
from tests.unit.ingest.support import HMAC_KEY, NOW_MS, make_id_number

CONTEXT = IngestContext(HMAC_KEY)
CODEC = AvroCodec()
Validator = Callable[[Mapping[str, object], IngestContext, int], Result]
VALIDATORS: dict[str, tuple[Validator, frozenset[str]]] = {
    "RawAlert": (validate_alert, ALERT_FIELDS),
    "TaskEvent": (validate_task_event, EVENT_FIELDS),
    "VictimRecord": (validate_victim, VICTIM_FIELDS),
}
REASONS = {reason.value for reason in Reason}

INJECTIONS = [
    "'; DROP TABLE tasks; --",
    "1 OR 1=1",
    "$(rm -rf /)",
    "`reboot`",
    "%s%s%n%x",
    "{0.__class__}",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "\x00\x1b[31m",
    "\ud800",
    "\u202eevil",
    "９９９",
    "NaN",
    "1e309",
    "-0",
    "2024-02-30T10:00:00",
    "+86 138-1234-5678",
    "13812345678",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=60),
    st.text(max_size=2000),
    st.sampled_from(INJECTIONS),
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.from_regex(r"20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\+08:00", fullmatch=True),
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
ALL_KNOWN = sorted(ALERT_FIELDS | EVENT_FIELDS | VICTIM_FIELDS)
RECORDS = st.dictionaries(st.sampled_from(ALL_KNOWN) | st.text(max_size=20), VALUES, max_size=25)


def check(record_type: str, result: Result) -> None:
    """An accepted record encodes under its Avro schema; a rejection names bounded reasons."""
    assert isinstance(result, Accepted | Rejected)
    if isinstance(result, Rejected):
        assert result.errors
        for error in result.errors:
            assert error.reason_code in REASONS
            assert error.message
        return
    json.dumps(result.record)
    assert CODEC.decode(CODEC.encode(record_type, result.record)) == (record_type, result.record)


@given(record_type=st.sampled_from(sorted(VALIDATORS)), record=RECORDS)
@settings(max_examples=400, deadline=None)
def test_random_records_are_accepted_or_clearly_rejected(record_type: str, record: dict[str, object]) -> None:
    validate, _ = VALIDATORS[record_type]
    check(record_type, validate(record, CONTEXT, NOW_MS))


VALID: dict[str, dict[str, object]] = {
    "RawAlert": {
        "source": "JZZ",
        "source_alert_id": "J-1",
        "issued_at": NOW_MS - 1000,
        "level": "LOW",
        "station_code": "S1",
        "region_code": "330106",
        "phone": "13812345678",
    },
    "TaskEvent": {"task_id": "T-1", "type": "FEEDBACK", "occurred_at": NOW_MS - 1000, "outcome": "NO_RISK"},
    "VictimRecord": {"case_id": "C-1", "phone": "13812345678", "case_at": "2024-01-01", "loss_fen": 0},
}


@given(
    record_type=st.sampled_from(sorted(VALIDATORS)),
    garbled=st.dictionaries(st.sampled_from(ALL_KNOWN), VALUES, min_size=1, max_size=3),
)
@settings(max_examples=400, deadline=None)
def test_valid_records_with_garbled_fields_are_accepted_or_clearly_rejected(
    record_type: str, garbled: dict[str, object]
) -> None:
    validate, _ = VALIDATORS[record_type]
    assert isinstance(validate(VALID[record_type], CONTEXT, NOW_MS), Accepted)
    check(record_type, validate({**VALID[record_type], **garbled}, CONTEXT, NOW_MS))


@given(record_type=st.sampled_from(sorted(VALIDATORS)), record=VALUES)
@settings(max_examples=100, deadline=None)
def test_records_that_are_not_objects_are_rejected(record_type: str, record: object) -> None:
    validate, _ = VALIDATORS[record_type]
    result = validate(record, CONTEXT, NOW_MS)  # type: ignore[arg-type]  # garbage on purpose
    assert isinstance(result, Accepted | Rejected)
    if not isinstance(record, dict):
        assert isinstance(result, Rejected)
        assert result.reason == "not_an_object"


# --- Valid records with random identifiers: nothing raw comes out ---------------------------------------

ID_NUMBERS = st.builds(
    lambda region, born, sequence: make_id_number(region, born.strftime("%Y%m%d"), f"{sequence:03d}"),
    st.sampled_from(["110105", "330106", "440305", "510107", "650102"]),
    st.dates(date(1920, 1, 1), date(2024, 5, 31)),
    st.integers(0, 999),
)
MOBILES = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
# CJK names from a block no other generated field uses, so a hit can only be the name.
NAMES = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x4FFF), min_size=2, max_size=4)
CODES = st.from_regex(r"[A-Z0-9]{1,8}", fullmatch=True)


def shown_forms(value: str) -> list[str]:
    """How a raw identifier could show up: as given and with common separators."""
    return [value, f"{value[:3]} {value[3:7]} {value[7:]}", f"{value[:3]}-{value[3:7]}-{value[7:]}"]


def assert_nothing_raw(record: dict[str, object], id_number: str, mobile: str, name: str) -> None:
    for text in (json.dumps(record, ensure_ascii=False), repr(record)):
        assert id_number not in text
        assert id_number[:14] not in text  # region and birth date
        assert mobile not in text
        assert name not in text


@given(
    id_number=ID_NUMBERS,
    mobile=MOBILES,
    name=NAMES,
    code=CODES,
    free_text=st.text(alphabet=st.characters(max_codepoint=0x3FFF), max_size=40),
    separator=st.sampled_from(["", " ", "-"]),
)
@settings(max_examples=200, deadline=None)
def test_accepted_alerts_never_carry_raw_identifiers(
    id_number: str, mobile: str, name: str, code: str, free_text: str, separator: str
) -> None:
    shown_mobile = separator.join((mobile[:3], mobile[3:7], mobile[7:]))
    record: dict[str, object] = {
        "source": "BANK",
        "source_alert_id": code,
        "issued_at": NOW_MS - 1000,
        "level": "CRITICAL",
        "station_code": code,
        "region_code": code,
        "id_number": id_number,
        "phone": shown_mobile,
        "name": name,
        "suspect_account": mobile + "0000",
        "note": f"{free_text} 身份证{id_number}，电话 {shown_mobile}。",
        "victim_name": name,
        "contact": {"phone": mobile, "id": id_number},
    }
    result = validate_alert(record, CONTEXT, NOW_MS)
    assert isinstance(result, Accepted), result
    assert_nothing_raw(result.record, id_number, mobile, name)
    check("RawAlert", result)


@given(id_number=ID_NUMBERS, relative=ID_NUMBERS, mobile=MOBILES, name=NAMES)
@settings(max_examples=100, deadline=None)
def test_accepted_victims_and_events_never_carry_raw_identifiers(
    id_number: str, relative: str, mobile: str, name: str
) -> None:
    victim = {
        "case_id": "C-1",
        "id_number": id_number,
        "name": name,
        "relatives": f"{relative};{mobile}",
        "case_at": "2024-01-01",
        "loss_fen": 1,
        "victim_name": name,
    }
    event = {
        "task_id": "T-1",
        "type": "VERIFIED",
        "occurred_at": NOW_MS,
        "verify_method": "PHONE",
        "verify_result": f"{id_number} {mobile}",
        "note": f"{mobile}/{id_number}",
        "person_name": name,
    }
    for record_type, record in (("VictimRecord", victim), ("TaskEvent", event)):
        result = VALIDATORS[record_type][0](record, CONTEXT, NOW_MS)
        assert isinstance(result, Accepted), result
        assert_nothing_raw(result.record, id_number, mobile, name)
        assert relative not in json.dumps(result.record)
        check(record_type, result)
