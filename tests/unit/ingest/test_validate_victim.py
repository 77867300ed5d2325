"""validate_victim: case records (立案) to VictimRecord dicts with the victim's and relatives' keys."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import pytest

from streams.ingest.context import Accepted, IngestContext, Rejected
from streams.ingest.validate import validate_victim
from tests.unit.ingest.support import (
    HMAC_KEY,
    ID_NUMBER,
    MOBILE,
    NOW_MS,
    SHANGHAI,
    YOUNG_ID_NUMBER,
    make_id_number,
    wrong_check_char,
)

CONTEXT = IngestContext(HMAC_KEY)
VICTIM_RECORD_FIELDS = [
    "case_id",
    "person_key",
    "relative_keys",
    "case_at",
    "loss_fen",
    "fraud_type",
    "station_code",
    "ingested_at",
]
CASE_DAY_MS = int(datetime(2021, 3, 15, tzinfo=SHANGHAI).timestamp() * 1000)


def key_of(message: str) -> str:
    return hmac.new(HMAC_KEY, message.encode(), hashlib.sha256).hexdigest()


def case(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "case_id": "A3301062021031500012",
        "id_number": ID_NUMBER,
        "name": "张三",
        "case_at": "2021-03-15",
        "loss_yuan": "25800.50",
        "fraud_type": "ORDER_BRUSHING",
    }
    record.update(changes)
    return {name: value for name, value in record.items() if value is not None}


def accepted(record: dict[str, object]) -> Accepted:
    result = validate_victim(record, CONTEXT, NOW_MS)
    assert isinstance(result, Accepted), result
    return result


def rejection(record: dict[str, object]) -> list[tuple[str, str]]:
    result = validate_victim(record, CONTEXT, NOW_MS)
    assert isinstance(result, Rejected), result
    return [(error.field, error.reason_code) for error in result.errors]


def test_a_case_becomes_the_contract_record() -> None:
    result = accepted(case(relatives=f"{YOUNG_ID_NUMBER};139-0000-1111", station_code="330106-PCS-01"))
    assert result.record == {
        "case_id": "A3301062021031500012",
        "person_key": key_of(f"id:{ID_NUMBER}"),
        "relative_keys": [key_of(f"id:{YOUNG_ID_NUMBER}"), key_of("phone:13900001111")],
        "case_at": CASE_DAY_MS,
        "loss_fen": 2_580_050,
        "fraud_type": "ORDER_BRUSHING",
        "station_code": "330106-PCS-01",
        "ingested_at": NOW_MS,
    }
    assert list(result.record) == VICTIM_RECORD_FIELDS
    assert (result.key, result.dedup_key) == (key_of(f"id:{ID_NUMBER}"), "A3301062021031500012")


def test_relatives_may_be_objects_or_strings_and_repeat_once() -> None:
    relatives = [
        {"id_number": YOUNG_ID_NUMBER},
        {"phone": "+86 13900001111"},
        YOUNG_ID_NUMBER.lower(),
        "13900001111",
        ID_NUMBER,  # the victim is not their own relative
    ]
    keys = accepted(case(relatives=relatives)).record["relative_keys"]
    assert keys == [key_of(f"id:{YOUNG_ID_NUMBER}"), key_of("phone:13900001111")]


def test_a_phone_identifies_a_victim_without_an_id_number() -> None:
    result = accepted(case(id_number=None, phone=MOBILE))
    assert result.record["person_key"] == key_of(f"phone:{MOBILE}")


def test_the_victims_name_and_unknown_fields_are_not_kept() -> None:
    record = accepted(case(address="西湖区某路1号", bank="某银行")).record
    assert "张三" not in repr(record)
    assert "西湖区" not in repr(record)


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"id_number": None}, [("id_number", "missing_field")]),
        ({"id_number": wrong_check_char(ID_NUMBER)}, [("id_number", "bad_id_number")]),
        ({"case_id": None}, [("case_id", "missing_field")]),
        ({"loss_yuan": None}, [("loss_fen", "missing_field")]),
        ({"loss_fen": 100}, [("loss_fen", "conflicting_fields")]),
        ({"case_at": "2003-01-01"}, [("case_at", "too_old")]),  # more than 20 years ago
        ({"case_at": "2024-06-02"}, [("case_at", "future_timestamp")]),
        ({"fraud_type": "SOMETHING"}, [("fraud_type", "bad_enum")]),
        ({"relatives": "12345"}, [("relatives[0].phone", "bad_phone")]),
        ({"relatives": [{"name": "李四"}]}, [("relatives[0]", "missing_field")]),
        (
            {"relatives": [{"id_number": wrong_check_char(YOUNG_ID_NUMBER)}]},
            [("relatives[0].id_number", "bad_id_number")],
        ),
        ({"relatives": {"id_number": YOUNG_ID_NUMBER}}, [("relatives", "bad_type")]),
        ({"relatives": [[YOUNG_ID_NUMBER]]}, [("relatives[0].phone", "bad_phone")]),
    ],
)
def test_bad_cases_are_rejected(changes: dict[str, object], errors: list[tuple[str, str]]) -> None:
    assert rejection(case(**changes)) == errors


def test_a_case_lists_a_bounded_number_of_relatives() -> None:
    relatives = ";".join(make_id_number(sequence=f"{index:03d}") for index in range(51))
    assert rejection(case(relatives=relatives)) == [("relatives", "too_many_items")]
    assert len(accepted(case(relatives=relatives.rsplit(";", 1)[0])).record["relative_keys"]) == 50  # type: ignore[arg-type]


def test_csv_relatives_skip_empty_parts_and_accept_full_width_separators() -> None:
    keys = accepted(case(relatives=f"{YOUNG_ID_NUMBER}；;  ;13900001111")).record["relative_keys"]
    assert keys == [key_of(f"id:{YOUNG_ID_NUMBER}"), key_of("phone:13900001111")]
