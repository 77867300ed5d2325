"""Field parsers: timestamps, money, enums, codes, ids, booleans, and how `get` reports problems."""

from __future__ import annotations

from datetime import datetime

import pytest

from streams.ingest import vocab
from streams.ingest.fields import (
    DAY_MS,
    Errors,
    FieldValueError,
    Reason,
    check_window,
    get,
    parse_bool,
    parse_code,
    parse_enum,
    parse_fen,
    parse_ident,
    parse_text,
    parse_timestamp,
    parse_yuan,
)
from tests.unit.ingest.support import NOW_MS, SHANGHAI

MAX_FEN = 100_000_000_000
MAY_1_10AM_MS = int(datetime(2024, 5, 1, 10, tzinfo=SHANGHAI).timestamp() * 1000)


def reason_of(parse: object, *args: object) -> str:
    """The reason code a parser raises."""
    assert callable(parse)
    with pytest.raises(FieldValueError) as caught:
        parse(*args)
    return caught.value.reason.value


# --- Timestamps -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T10:00:00+08:00",
        "2024-05-01T02:00:00Z",
        "2024-05-01T02:00:00+00:00",
        "2024-05-01T10:00:00",  # naive: Beijing time
        "2024-05-01 10:00:00",
        "2024-05-01T10:00",
        "20240501T100000+0800",
        MAY_1_10AM_MS,
        str(MAY_1_10AM_MS),
        float(MAY_1_10AM_MS),
    ],
)
def test_timestamps_are_iso_8601_or_epoch_milliseconds(value: object) -> None:
    assert parse_timestamp(value) == MAY_1_10AM_MS


def test_sub_millisecond_digits_are_truncated() -> None:
    assert parse_timestamp("2024-05-01T10:00:00.123999+08:00") == MAY_1_10AM_MS + 123


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("yesterday", "bad_timestamp"),
        ("2024-13-01T10:00:00", "bad_timestamp"),
        ("2024-05-01", "bad_timestamp"),  # a date without a time of day
        ("20240501", "bad_timestamp"),
        (1_714_528_800, "bad_timestamp"),  # epoch seconds, not milliseconds
        ("1714528800", "bad_timestamp"),
        (-5, "bad_timestamp"),
        ("2024-05-01T10:00:00+08:00" + " " * 40, "bad_timestamp"),  # too long to be a timestamp
        (1.5e12 + 0.5, "bad_timestamp"),
        (True, "bad_type"),
        ([2024, 5, 1], "bad_timestamp"),
    ],
)
def test_other_timestamps_are_refused(value: object, reason: str) -> None:
    assert reason_of(parse_timestamp, value) == reason


def test_case_dates_may_be_bare_dates_at_midnight_in_china() -> None:
    midnight = int(datetime(2024, 5, 1, tzinfo=SHANGHAI).timestamp() * 1000)
    assert parse_timestamp("2024-05-01", allow_date_only=True) == midnight
    assert parse_timestamp("20240501", allow_date_only=True) == midnight


def test_the_window_allows_a_little_clock_skew_and_a_long_past() -> None:
    skew_ms, max_age_ms = 300_000, 400 * DAY_MS
    assert check_window(NOW_MS + skew_ms, NOW_MS, max_age_ms, skew_ms) == NOW_MS + skew_ms
    assert check_window(NOW_MS - max_age_ms, NOW_MS, max_age_ms, skew_ms) == NOW_MS - max_age_ms
    assert reason_of(check_window, NOW_MS + skew_ms + 1, NOW_MS, max_age_ms, skew_ms) == "future_timestamp"
    assert reason_of(check_window, NOW_MS - max_age_ms - 1, NOW_MS, max_age_ms, skew_ms) == "too_old"


# --- Money ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "fen"), [(0, 0), (1234500, 1234500), ("1234500", 1234500), (100.0, 100)])
def test_fen_are_whole_non_negative_numbers(value: object, fen: int) -> None:
    assert parse_fen(value, MAX_FEN) == fen


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-1, "negative_amount"),
        ("-100", "negative_amount"),
        (MAX_FEN + 1, "amount_too_large"),
        ("9" * 30, "amount_too_large"),
        ("12.5", "bad_amount"),
        (12.5, "bad_amount"),
        ("1,000", "bad_amount"),
        ("-", "bad_amount"),
        (float("nan"), "bad_amount"),
        (True, "bad_type"),
        ({"fen": 1}, "bad_type"),
    ],
)
def test_bad_fen_amounts_are_refused(value: object, reason: str) -> None:
    assert reason_of(parse_fen, value, MAX_FEN) == reason


@pytest.mark.parametrize(
    ("value", "fen"),
    [
        ("1234.56", 123456),
        ("1234.5", 123450),
        ("1234.", 123400),
        ("1234", 123400),
        ("0.01", 1),
        ("12.3400", 1234),  # trailing zeros are not extra precision
        (1234, 123400),
        (1234.56, 123456),  # the float's shortest repr is exact decimal
        (0.1, 10),
        ("-0.00", 0),
        ("1000000000", MAX_FEN),  # 1e9 yuan, the default bound
    ],
)
def test_yuan_convert_exactly_to_fen(value: object, fen: int) -> None:
    assert parse_yuan(value, MAX_FEN) == fen


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("12.345", "bad_amount"),
        (0.001, "bad_amount"),
        (0.1 + 0.2, "bad_amount"),  # 0.30000000000000004 is not a whole number of fen
        ("1e3", "bad_amount"),
        ("¥100", "bad_amount"),
        (" ", "bad_amount"),
        ("-0.01", "negative_amount"),
        (-3, "negative_amount"),
        (-0.5, "negative_amount"),
        ("1000000000.01", "amount_too_large"),
        (1e300, "amount_too_large"),
        ("9" * 40, "amount_too_large"),
        ("9" * 41, "bad_amount"),
        (float("inf"), "bad_amount"),
        (False, "bad_type"),
        (None, "bad_type"),
    ],
)
def test_bad_yuan_amounts_are_refused(value: object, reason: str) -> None:
    assert reason_of(parse_yuan, value, MAX_FEN) == reason


# --- Strings, codes, enums, booleans ----------------------------------------------------------------


def test_text_has_a_length_limit_and_must_encode() -> None:
    assert parse_text("abc", 3) == "abc"
    assert parse_text(330106, 10) == "330106"  # JSON numbers for codes are read as their digits
    assert reason_of(parse_text, "abcd", 3) == "too_long"
    assert reason_of(parse_text, "bad \ud800 surrogate", 100) == "bad_value"
    assert reason_of(parse_text, 1.5, 10) == "bad_type"
    assert reason_of(parse_text, True, 10) == "bad_type"
    assert reason_of(parse_text, 10**100, 1000) == "bad_type"


@pytest.mark.parametrize("code", ["330106", "330106-PCS-01", "西湖派出所", "a.b:c_d"])
def test_codes_are_letters_digits_and_a_few_separators(code: str) -> None:
    assert parse_code(code, 32) == code


@pytest.mark.parametrize(
    "code", ["a b", "x'; DROP TABLE tasks; --", "<b>", "$(rm -rf /)", "%s%n", "a\x00b", "a\ud800"]
)
def test_codes_refuse_anything_else(code: str) -> None:
    assert reason_of(parse_code, code, 32) == "bad_value"


def test_ids_may_hold_punctuation_but_no_spaces_or_invisible_characters() -> None:
    assert parse_ident("MPS/2024#0001", 64) == "MPS/2024#0001"
    for bad in ["A 1", "A\t1", "A\u202e1", "A\u200b1", "A\x7f1"]:
        assert reason_of(parse_ident, bad, 64) == "bad_value"


@pytest.mark.parametrize(
    ("value", "symbol"), [("HIGH", "HIGH"), ("high", "HIGH"), ("High", "HIGH"), ("高", "HIGH")]
)
def test_enums_take_any_case_and_chinese_terms(value: str, symbol: str) -> None:
    assert parse_enum(value, vocab.LEVELS) == symbol


def test_unknown_enum_values_list_the_choices_but_not_the_value() -> None:
    with pytest.raises(FieldValueError) as caught:
        parse_enum("VERY_HIGH", vocab.LEVELS)
    assert caught.value.reason is Reason.BAD_ENUM
    assert caught.value.message == "must be one of CRITICAL, HIGH, MEDIUM, LOW"
    assert reason_of(parse_enum, "UNKNOWN", vocab.LEVELS) == "bad_enum"  # a schema default, not an input


@pytest.mark.parametrize(
    ("value", "result"), [(True, True), ("true", True), ("YES", True), ("1", True), (0, False), ("否", False)]
)
def test_booleans(value: object, result: bool) -> None:
    assert parse_bool(value) is result


def test_bad_booleans() -> None:
    for bad in ["maybe", 2, 1.0, None]:
        assert reason_of(parse_bool, bad) == "bad_value"


# --- get ----------------------------------------------------------------------------------------------


def test_null_and_blank_values_are_absent() -> None:
    errors = Errors()
    record: dict[str, object] = {"a": None, "b": "   ", "c": " x "}
    assert get(record, "a", errors, str) is None
    assert get(record, "b", errors, str) is None
    assert get(record, "missing", errors, str) is None
    assert get(record, "c", errors, str) == "x"  # stripped
    assert errors == []


def test_a_required_field_that_is_absent_or_bad_gives_one_error_each() -> None:
    errors = Errors()
    assert get({"a": ""}, "a", errors, str, required=True) is None
    assert get({"b": "x"}, "b", errors, lambda value: parse_fen(value, 10), label="amount") is None
    assert [(error.field, error.reason_code) for error in errors] == [
        ("a", "missing_field"),
        ("amount", "bad_amount"),
    ]
