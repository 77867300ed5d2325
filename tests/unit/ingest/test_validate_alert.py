"""validate_alert: input warnings to RawAlert dicts, or the field errors that reject them."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from streams.ingest.context import Accepted, IngestContext, Rejected
from streams.ingest.fields import Limits
from streams.ingest.validate import validate_alert
from tests.unit.ingest.support import HMAC_KEY, ID_NUMBER, MOBILE, NOW_MS, YOUNG_ID_NUMBER, wrong_check_char

CONTEXT = IngestContext(HMAC_KEY)
RAW_ALERT_FIELDS = [
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
]
ISSUED_AT_MS = NOW_MS - 60_000


def hmac_hex(message: str) -> str:
    return hmac.new(HMAC_KEY, message.encode(), hashlib.sha256).hexdigest()


def alert(**changes: object) -> dict[str, object]:
    """A complete, valid warning as upstream JSON sends it, with `changes` applied (None deletes)."""
    record: dict[str, object] = {
        "source": "MPS_FUND",
        "source_alert_id": "MPS-20240601-0001",
        "issued_at": "2024-06-01T11:59:00+08:00",
        "level": "HIGH",
        "fraud_type": "FAKE_INVESTMENT",
        "station_code": "330106-PCS-01",
        "region_code": "330106",
        "id_number": ID_NUMBER,
        "phone": MOBILE,
        "name": "欧阳娜娜",
        "resident_type": "LOCAL",
        "amount_at_risk_fen": 1_234_500,
        "suspect_account": "6222021234567890123",
        "channel": "TRANSFER",
    }
    record.update(changes)
    return {name: value for name, value in record.items() if value is not None}


def accepted(record: dict[str, object], context: IngestContext = CONTEXT) -> Accepted:
    result = validate_alert(record, context, NOW_MS)
    assert isinstance(result, Accepted), result
    return result


def rejection(record: object) -> list[tuple[str, str]]:
    result = validate_alert(record, CONTEXT, NOW_MS)  # type: ignore[arg-type]  # garbage on purpose
    assert isinstance(result, Rejected), result
    return [(error.field, error.reason_code) for error in result.errors]


def test_a_complete_warning_becomes_the_contract_record() -> None:
    result = accepted(alert())
    person_key = hmac_hex(f"id:{ID_NUMBER}")
    assert result.record == {
        "alert_key": "MPS_FUND:MPS-20240601-0001",
        "source": "MPS_FUND",
        "source_alert_id": "MPS-20240601-0001",
        "issued_at": ISSUED_AT_MS,
        "ingested_at": NOW_MS,
        "level": "HIGH",
        "fraud_type": "FAKE_INVESTMENT",
        "station_code": "330106-PCS-01",
        "region_code": "330106",
        "person_key": person_key,
        "person_key_kind": "ID_NUMBER",
        "masked_name": "欧阳**",
        "masked_phone": "138****5678",
        "age_band": "AGE_60_PLUS",
        "resident_type": "LOCAL",
        "amount_at_risk_fen": 1_234_500,
        "suspect_account_hash": hmac_hex("acct:6222021234567890123"),
        "channel": "TRANSFER",
        "extras": {},
    }
    assert list(result.record) == RAW_ALERT_FIELDS
    assert result.key == person_key
    assert result.dedup_key == "MPS_FUND:MPS-20240601-0001"


def test_a_csv_row_of_strings_gives_the_same_record() -> None:
    as_csv: dict[str, object] = {
        name: str(value) for name, value in alert(issued_at=str(ISSUED_AT_MS)).items()
    }
    assert accepted(as_csv).record == accepted(alert()).record


def test_spellings_are_normalised() -> None:
    record = accepted(
        alert(
            source="jzz",
            level="高",
            fraud_type="romance",
            resident_type="流动",
            channel="sms",
            id_number=" " + ID_NUMBER[:6] + " " + ID_NUMBER[6:] + " ",
            phone="+86 138-1234-5678",
            amount_at_risk_fen=None,
            amount_at_risk_yuan="12345",
        )
    ).record
    assert (record["source"], record["level"], record["fraud_type"]) == ("JZZ", "HIGH", "ROMANCE")
    assert (record["resident_type"], record["channel"]) == ("MIGRANT", "SMS")
    assert record["person_key"] == hmac_hex(f"id:{ID_NUMBER}")
    assert record["masked_phone"] == "138****5678"
    assert record["amount_at_risk_fen"] == 1_234_500


def test_without_an_id_number_the_phone_is_the_person() -> None:
    result = accepted(alert(id_number=None, age=35))
    assert result.record["person_key"] == hmac_hex(f"phone:{MOBILE}")
    assert result.record["person_key_kind"] == "PHONE"
    assert result.record["age_band"] == "AGE_30_44"  # from `age`, since there is no birth date


def test_an_anonymous_warning_is_keyed_by_its_own_identity() -> None:
    result = accepted(alert(id_number=None, phone=None, name=None))
    assert result.record["person_key"] is None
    assert result.record["person_key_kind"] == "NONE"
    assert (result.record["masked_name"], result.record["masked_phone"]) == (None, None)
    assert result.key == "anon:MPS_FUND:MPS-20240601-0001"


def test_the_age_band_comes_from_the_id_number_at_issue_time() -> None:
    assert accepted(alert(id_number=YOUNG_ID_NUMBER, age=40)).record["age_band"] == "AGE_UNDER_18"
    assert accepted(alert(id_number=None, phone=None)).record["age_band"] == "UNKNOWN"


def test_optional_fields_have_contract_defaults() -> None:
    record = accepted(
        alert(
            fraud_type=None, resident_type=None, amount_at_risk_fen=None, suspect_account=None, channel=None
        )
    ).record
    assert record["fraud_type"] == "OTHER"
    assert record["resident_type"] == "UNKNOWN"
    assert record["amount_at_risk_fen"] == 0
    assert (record["suspect_account_hash"], record["channel"]) == (None, None)


@pytest.mark.parametrize(
    "field", ["source", "source_alert_id", "issued_at", "level", "station_code", "region_code"]
)
def test_required_fields(field: str) -> None:
    assert rejection(alert(**{field: None})) == [(field, "missing_field")]
    assert rejection(alert(**{field: "  "})) == [(field, "missing_field")]


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"source": "WECHAT"}, [("source", "bad_enum")]),
        ({"level": "UNKNOWN"}, [("level", "bad_enum")]),
        ({"fraud_type": "LOTTERY"}, [("fraud_type", "bad_enum")]),
        ({"resident_type": "TOURIST"}, [("resident_type", "bad_enum")]),
        ({"issued_at": "2024-06-01T12:05:01+08:00"}, [("issued_at", "future_timestamp")]),
        ({"issued_at": "2023-04-27T12:00:00+08:00"}, [("issued_at", "too_old")]),
        ({"issued_at": "soon"}, [("issued_at", "bad_timestamp")]),
        ({"amount_at_risk_fen": -1}, [("amount_at_risk_fen", "negative_amount")]),
        ({"amount_at_risk_fen": 10**11 + 1}, [("amount_at_risk_fen", "amount_too_large")]),
        ({"amount_at_risk_yuan": "1.5"}, [("amount_at_risk_fen", "conflicting_fields")]),
        (
            {"amount_at_risk_fen": None, "amount_at_risk_yuan": "1.555"},
            [("amount_at_risk_yuan", "bad_amount")],
        ),
        ({"id_number": wrong_check_char(ID_NUMBER)}, [("id_number", "bad_id_number")]),
        ({"id_number": ID_NUMBER[:-1]}, [("id_number", "bad_id_number")]),
        ({"id_number": 12345}, [("id_number", "bad_id_number")]),
        ({"phone": "12345"}, [("phone", "bad_phone")]),
        ({"phone": ["13812345678"]}, [("phone", "bad_phone")]),
        ({"suspect_account": "abc"}, [("suspect_account", "bad_account")]),
        ({"age": 200}, [("age", "bad_value")]),
        ({"age": "forty"}, [("age", "bad_value")]),
        ({"source_alert_id": "x" * 65}, [("source_alert_id", "too_long")]),
        ({"source_alert_id": "has space"}, [("source_alert_id", "bad_value")]),
        ({"station_code": "S" * 33}, [("station_code", "too_long")]),
        ({"region_code": "330106; DROP TABLE tasks"}, [("region_code", "bad_value")]),
        ({"channel": "<script>"}, [("channel", "bad_value")]),
        ({"name": "名" * 65}, [("name", "too_long")]),
        ({"level": 3}, [("level", "bad_type")]),
        ({"station_code": {"$ne": None}}, [("station_code", "bad_type")]),
    ],
)
def test_each_rule_rejects_with_its_reason(changes: dict[str, object], errors: list[tuple[str, str]]) -> None:
    assert rejection(alert(**changes)) == errors


def test_all_errors_of_a_record_are_reported_in_field_order() -> None:
    result = validate_alert({"source": "x", "level": "y", "phone": "z"}, CONTEXT, NOW_MS)
    assert isinstance(result, Rejected)
    assert [error.field for error in result.errors] == [
        "source",
        "source_alert_id",
        "issued_at",
        "level",
        "station_code",
        "region_code",
        "phone",
    ]
    assert result.reason == "bad_enum"
    assert result.message.startswith("source: must be one of MPS_FUND, JZZ, ")


def test_error_messages_never_quote_personal_data() -> None:
    bad = alert(id_number=wrong_check_char(ID_NUMBER), phone="1" * 11, name="名" * 65)
    result = validate_alert(bad, CONTEXT, NOW_MS)
    assert isinstance(result, Rejected)
    for secret in (wrong_check_char(ID_NUMBER), "1" * 11, "名" * 65):
        assert secret not in result.message


def test_a_record_that_is_not_an_object_is_rejected() -> None:
    assert rejection(["not", "an", "object"]) == [("", "not_an_object")]
    assert rejection("text") == [("", "not_an_object")]


def test_limits_are_configurable() -> None:
    strict = IngestContext(HMAC_KEY, Limits(future_skew_ms=0, max_amount_fen=100))
    result = validate_alert(alert(issued_at=NOW_MS + 1, amount_at_risk_fen=101), strict, NOW_MS)
    assert isinstance(result, Rejected)
    assert [error.reason_code for error in result.errors] == ["future_timestamp", "amount_too_large"]


# --- extras -------------------------------------------------------------------------------------------


def test_unknown_fields_go_to_extras_as_scrubbed_strings() -> None:
    extras = accepted(
        alert(
            note="对方自称公安，回拨 13912345678",
            score=0.87,
            flagged=True,
            tags=["call", "app"],
            detail={"app": "某投资APP"},
            empty="",
            missing=None,
        )
    ).record["extras"]
    assert extras == {
        "detail": '{"app":"某投资APP"}',
        "flagged": "true",
        "note": "对方自称公安，回拨 139****5678",
        "score": "0.87",
        "tags": '["call","app"]',
    }


def test_personal_looking_extras_are_masked() -> None:
    extras = accepted(
        alert(victim_name="王小明", contact_phone="13912345678", id_card=ID_NUMBER, bank_account="123456")
    ).record["extras"]
    assert extras == {
        "bank_account": "***",
        "contact_phone": "139****5678",
        "id_card": ID_NUMBER[:3] + "*" * 11 + ID_NUMBER[-4:],
        "victim_name": "王**",
    }


def test_extras_have_limits() -> None:
    too_many = alert(**{f"x{index}": "v" for index in range(33)})
    assert rejection(too_many) == [("extras", "too_many_fields")]
    assert rejection(alert(note="n" * 1001)) == [("extras", "too_long")]
    assert rejection(alert(**{"k" * 65: "v"})) == [("extras", "too_long")]
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert rejection(alert(deep=deep)) == [("extras", "bad_type")]
    assert rejection(alert(huge=10**5000)) == [("extras", "bad_type")]


def test_the_output_serialises_as_json() -> None:
    record = accepted(alert(note="x", weird=float("nan"))).record
    assert json.loads(json.dumps(record))["extras"]["weird"] == "NaN"
