"""redact_payload: dead-letter payloads keep the shape of the input but none of its identifiers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.ingest.redact import (
    is_sensitive_key,
    mask_sensitive_value,
    redact_payload,
    truncate_safely,
)
from tests.unit.ingest.support import ID_NUMBER, MOBILE, YOUNG_ID_NUMBER

MASKED_ID = ID_NUMBER[:3] + "*" * 11 + ID_NUMBER[-4:]
RECORD: dict[str, object] = {
    "source": "JZZ",
    "id_number": ID_NUMBER,
    "phone": MOBILE,
    "name": "张三丰",
    "suspect_account": "6222021234567890123",
    "relatives": [{"id_number": YOUNG_ID_NUMBER}],
    "note": f"回拨 {MOBILE}",
    "level": 3,
}
SECRETS = [ID_NUMBER, ID_NUMBER[:14], MOBILE, "张三丰", "三丰", "6222021234567890123", YOUNG_ID_NUMBER]


def assert_no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_a_parsed_record_keeps_its_shape_with_identifiers_masked() -> None:
    assert json.loads(redact_payload(RECORD)) == {
        "source": "JZZ",
        "id_number": MASKED_ID,
        "phone": "138****5678",
        "name": "张**",
        "suspect_account": "6222***********0123",
        "relatives": "<1 items removed>",
        "note": "回拨 138****5678",
        "level": 3,
    }


def test_a_raw_json_line_is_parsed_and_redacted() -> None:
    raw = json.dumps(RECORD, ensure_ascii=False).encode()
    assert json.loads(redact_payload(raw)) == json.loads(redact_payload(RECORD))


def test_broken_json_still_loses_its_personal_values() -> None:
    raw = json.dumps(RECORD, ensure_ascii=False)[:-20]  # cut short: not JSON any more
    redacted = redact_payload(raw)
    assert_no_secrets(redacted)
    assert '"name": "***"' in redacted
    assert '"source": "JZZ"' in redacted


def test_csv_cells_by_column_are_redacted_like_a_record() -> None:
    cells: dict[str, object] = {"source": "JZZ", "name": "张三丰", "phone": MOBILE, "_extra_1": ID_NUMBER}
    redacted = redact_payload(cells)
    assert_no_secrets(redacted)
    assert json.loads(redacted)["name"] == "张**"


def test_garbage_bytes_give_scrubbed_readable_text() -> None:
    redacted = redact_payload(b"\xff\xfe\x00 id " + ID_NUMBER.encode() + b" \x1b[31m")
    assert_no_secrets(redacted)
    assert redacted == "\ufffd\ufffd\\x00 id " + MASKED_ID + " \\x1b[31m"


def test_the_result_is_bounded_and_never_ends_in_half_an_identifier() -> None:
    text = "x" * 90 + ID_NUMBER + "y" * 100
    redacted = redact_payload(text, limit=100)
    assert len(redacted) <= 100
    assert redacted.endswith("…[truncated]")
    assert ID_NUMBER[:6] not in redacted


def test_truncation_drops_a_dangling_identifier() -> None:
    assert truncate_safely("ok " + ID_NUMBER + "z" * 50, 20) == "ok…[truncated]"
    assert truncate_safely("short", 30) == "short"


def test_deep_and_wide_structures_are_cut_down() -> None:
    deep: dict[str, object] = {"phone": MOBILE}
    for _ in range(50):
        deep = {"next": deep}
    assert "<nested too deep>" in redact_payload(deep)
    wide = {f"k{index}": index for index in range(1000)}
    assert "more fields" in redact_payload(wide, limit=100_000)


def test_lone_surrogates_become_valid_utf8() -> None:
    redacted = redact_payload({"note": "bad \ud800 text"})
    redacted.encode()  # no UnicodeEncodeError


@pytest.mark.parametrize(
    ("key", "sensitive"),
    [
        ("victim_name", True),
        ("contact_phone", True),
        ("mobile", True),
        ("idCard", True),
        ("id_no", True),
        ("bank_account", True),
        ("tel", True),
        ("姓名", True),
        ("身份证号", True),
        ("hotel", False),
        ("video_node", False),
        ("device", False),
        ("channel", False),
    ],
)
def test_personal_looking_keys(key: str, sensitive: bool) -> None:
    assert is_sensitive_key(key) is sensitive


def test_personal_looking_values_are_masked_whole() -> None:
    assert mask_sensitive_value("victim_name", "王小明") == "王**"
    assert mask_sensitive_value("contact", "call 13812345678") == "call 138****5678"
    assert mask_sensitive_value("account", "12345") == "***"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


@given(
    st.one_of(st.binary(max_size=500), st.text(max_size=500), st.dictionaries(st.text(max_size=20), _JSON))
)
@settings(max_examples=300)
def test_anything_gives_bounded_valid_text(payload: bytes | str | dict[str, object]) -> None:
    redacted = redact_payload(payload, limit=300)
    assert len(redacted) <= 300
    redacted.encode()


@given(
    extra=st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=5),
    cut=st.integers(0, 400),
)
@settings(max_examples=200)
def test_no_identifier_survives_in_any_form(extra: dict[str, str], cut: int) -> None:
    record = {**extra, **RECORD}
    text = json.dumps(record, ensure_ascii=False)
    for payload in (record, text, text.encode(), text[:cut]):
        assert_no_secrets(redact_payload(payload))
