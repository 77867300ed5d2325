"""Identifiers: GB 11643 ID numbers, phone numbers, person keys, masks and free-text scrubbing."""

from __future__ import annotations

import hashlib
import hmac
import string
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.errors import InvalidIdentifierError
from streams.ingest.identity import (
    ID_NUMBER_WEIGHTS,
    PERSON_KEY_KIND_ID,
    PERSON_KEY_KIND_NONE,
    PERSON_KEY_KIND_PHONE,
    PersonKeyer,
    age_band,
    age_in_years,
    id_check_char,
    mask_name,
    mask_phone,
    normalise_account,
    normalise_phone,
    parse_id_number,
    scrub_text,
    shanghai_date,
)
from tests.unit.ingest.support import (
    HMAC_KEY,
    ID_NUMBER,
    MOBILE,
    NOW_MS,
    STANDARD_EXAMPLE_ID,
    check_char,
    make_id_number,
    wrong_check_char,
)

TODAY = date(2024, 6, 1)


# --- ID numbers -------------------------------------------------------------------------------------


def test_the_standards_example_number_is_valid() -> None:
    parsed = parse_id_number(STANDARD_EXAMPLE_ID, TODAY)
    assert parsed.normalised == "11010519491231002X"
    assert parsed.birth_date == date(1949, 12, 31)


def test_the_standards_weights_are_powers_of_two_mod_11() -> None:
    # The fast check-digit computation relies on this (see id_check_char).
    assert tuple(pow(2, 17 - index, 11) for index in range(17)) == ID_NUMBER_WEIGHTS


@given(st.text(alphabet=string.digits, min_size=17, max_size=17))
@settings(max_examples=300)
def test_check_char_matches_the_iso_7064_reference_model(first17: str) -> None:
    assert id_check_char(first17) == check_char(first17)


@pytest.mark.parametrize(
    "raw",
    [
        " 110105 19491231 002x ",  # spaces and a lower-case x
        "11010519491231002x",
        "110105\t19491231\u3000002X",  # tab and ideographic space
    ],
)
def test_id_numbers_are_normalised_before_checking(raw: str) -> None:
    assert parse_id_number(raw, TODAY).normalised == STANDARD_EXAMPLE_ID


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("1101051949123100", "18 characters"),  # too short
        ("11010519491231002X1", "18 characters"),  # too long
        ("1101051949123100AX", "18 characters"),  # a letter inside
        ("X1010519491231002X", "18 characters"),
        ("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X", "18 characters"),  # Arabic-Indic digits are digits to Python, not to GB 11643
        (wrong_check_char(STANDARD_EXAMPLE_ID), "check digit"),
        (make_id_number(birth="19990230"), "birth date"),  # 30 February
        (make_id_number(birth="18991231"), "birth date"),  # before 1900
        (make_id_number(birth="20240602"), "after today"),  # tomorrow
    ],
)
def test_invalid_id_numbers_are_refused_with_the_reason(raw: str, complaint: str) -> None:
    with pytest.raises(InvalidIdentifierError, match=complaint) as caught:
        parse_id_number(raw, TODAY)
    assert raw.strip() not in str(caught.value)  # the message never quotes the number


def test_a_person_born_today_is_plausible() -> None:
    assert parse_id_number(make_id_number(birth="20240601"), TODAY).birth_date == TODAY


# --- Ages -------------------------------------------------------------------------------------------


def test_age_counts_completed_years_at_the_birthday() -> None:
    born = date(1958, 2, 14)
    assert age_in_years(born, date(2024, 2, 13)) == 65
    assert age_in_years(born, date(2024, 2, 14)) == 66


@pytest.mark.parametrize(
    ("age", "band"),
    [
        (None, "UNKNOWN"),
        (0, "AGE_UNDER_18"),
        (17, "AGE_UNDER_18"),
        (18, "AGE_18_29"),
        (29, "AGE_18_29"),
        (30, "AGE_30_44"),
        (44, "AGE_30_44"),
        (45, "AGE_45_59"),
        (59, "AGE_45_59"),
        (60, "AGE_60_PLUS"),
        (120, "AGE_60_PLUS"),
    ],
)
def test_age_bands_have_the_contract_boundaries(age: int | None, band: str) -> None:
    assert age_band(age) == band


def test_the_date_is_taken_in_china_not_utc() -> None:
    # 2024-05-31T16:30Z is already 2024-06-01 00:30 in Beijing.
    assert shanghai_date(1_717_173_000_000) == date(2024, 6, 1)
    assert shanghai_date(NOW_MS) == TODAY


# --- Phone numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+8613812345678", "13812345678"),
        ("008613812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("(+86) 199-0000-1111", "19900001111"),
        ("010-12345678", "01012345678"),
        ("(010) 1234 5678", "01012345678"),
        ("0571-8765432", "05718765432"),
        ("0571-87654321", "057187654321"),
        ("+86 10 12345678", "01012345678"),  # dialled from abroad: no trunk 0
        ("+86 571 8765432", "05718765432"),
    ],
)
def test_mainland_phone_numbers_normalise_to_digits(raw: str, normalised: str) -> None:
    assert normalise_phone(raw) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12812345678",  # 12x is not a mobile prefix
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "95588",  # a bank's service number
        "400-123-4567",
        "010-1234567",  # Beijing numbers have 8 local digits
        "13812345678 ext 12",
        "+1 415 555 0100",
        "１３８１２３４５６７８",  # full-width digits
    ],
)
def test_other_numbers_are_not_phone_numbers(raw: str) -> None:
    with pytest.raises(InvalidIdentifierError, match="mobile"):
        normalise_phone(raw)


@pytest.mark.parametrize(
    ("normalised", "masked"),
    [
        ("13812345678", "138****5678"),
        ("01012345678", "010****5678"),
        ("05718765432", "0571***5432"),
        ("057187654321", "0571****4321"),
        ("12345", "****"),
    ],
)
def test_phone_masks_keep_prefix_and_last_four_digits(normalised: str, masked: str) -> None:
    assert mask_phone(normalised) == masked


def test_accounts_normalise_to_digits() -> None:
    assert normalise_account("6222 0212-3456 7890 123") == "6222021234567890123"
    with pytest.raises(InvalidIdentifierError):
        normalise_account("alipay:someone@example.com")
    with pytest.raises(InvalidIdentifierError):
        normalise_account("12345")


# --- Person keys ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [b"k" * 16, HMAC_KEY, b"x" * 64, bytes(range(100))])
def test_person_keys_are_hmac_sha256_of_the_prefixed_identifier(key: bytes) -> None:
    keyer = PersonKeyer(key)
    expected = hmac.new(key, f"id:{ID_NUMBER}".encode(), hashlib.sha256).hexdigest()
    assert keyer.of_id_number(ID_NUMBER) == expected
    assert keyer.of_phone(MOBILE) == hmac.new(key, f"phone:{MOBILE}".encode(), hashlib.sha256).hexdigest()
    assert keyer.of_account("6222") == hmac.new(key, b"acct:6222", hashlib.sha256).hexdigest()


def test_the_id_number_wins_over_the_phone_and_none_gives_none() -> None:
    keyer = PersonKeyer(HMAC_KEY)
    assert keyer.person_key(ID_NUMBER, MOBILE) == (keyer.of_id_number(ID_NUMBER), PERSON_KEY_KIND_ID)
    assert keyer.person_key(None, MOBILE) == (keyer.of_phone(MOBILE), PERSON_KEY_KIND_PHONE)
    assert keyer.person_key(None, None) == (None, PERSON_KEY_KIND_NONE)


def test_a_different_key_gives_unlinkable_person_keys() -> None:
    assert PersonKeyer(HMAC_KEY).of_phone(MOBILE) != PersonKeyer(HMAC_KEY[::-1]).of_phone(MOBILE)


def test_the_keyer_never_shows_its_key() -> None:
    assert "unit-test" not in repr(PersonKeyer(HMAC_KEY))


# --- Names ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张三丰", "张**"),
        ("张", "*"),
        ("欧阳娜娜", "欧阳**"),
        ("欧阳娜", "欧阳*"),
        ("诸葛亮", "诸葛*"),
        ("司马相如", "司马**"),
        ("欧阳", "欧*"),  # two characters: a one-character surname and a given name
        ("  张三 ", "张*"),
        ("阿卜杜·热合曼", "阿**·***"),
        ("Zhang San", "Z**** ***"),
        ("Zhang", "Z****"),
        ("Mary-Jane O'Neil", "M***-**** *'****"),
        ("<script>", "********"),  # not a letter first: nothing kept
        ("13812345678", "***********"),
        ("   ", None),
    ],
)
def test_names_keep_only_the_surname_or_first_letter(name: str, masked: str | None) -> None:
    assert mask_name(name) == masked


# --- Scrubbing free text ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scrubbed"),
    [
        ("no identifiers here", "no identifiers here"),
        ("call 13812345678 now", "call 138****5678 now"),
        ("call 138-1234-5678 now", "call 138****5678 now"),
        ("call 138 1234 5678", "call 138****5678"),
        ("call +86 138 1234 5678", "call 138****5678"),
        ("call (+86)13812345678", "call 138****5678"),
        ("电话13812345678。", "电话138****5678。"),
        (f"身份证{STANDARD_EXAMPLE_ID}号", "身份证110***********002X号"),
        ("身份证 110105 19491231 002X", "身份证 110***********002X"),
        ("bad check 110105194912310021 too", "bad check 110***********0021 too"),  # check digit not required
        ("card 6222021234567890123", "card 6222***********0123"),
        ("order 20240501000012345678901", "order 2024" + "*" * 15 + "8901"),
        ("ids 13812345678,13912345678", "ids 138****5678,139****5678"),
        ("full-width １３８１２３４５６７８ too", "full-width 138****5678 too"),
        ("amount 12345678 yuan at 2024-05-01 10:00", "amount 12345678 yuan at 2024-05-01 10:00"),
        ("epoch 1717200000000 is not a phone", "epoch 1717200000000 is not a phone"),
        ("digits 123456789012 are kept", "digits 123456789012 are kept"),
    ],
)
def test_scrub_text_masks_identifiers_in_free_text(text: str, scrubbed: str) -> None:
    assert scrub_text(text) == scrubbed


_NOT_DIGITS = st.text(alphabet=st.characters(exclude_categories=["Nd"], exclude_characters="+()-"))


@given(
    before=_NOT_DIGITS,
    after=_NOT_DIGITS,
    region=st.sampled_from(["110105", "330106", "440305", "510107"]),
    birth=st.dates(date(1920, 1, 1), date(2020, 12, 31)),
    sequence=st.integers(0, 999),
    mobile=st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
)
@settings(max_examples=200)
def test_no_id_number_or_mobile_survives_scrubbing(
    before: str, after: str, region: str, birth: date, sequence: int, mobile: str
) -> None:
    id_number = make_id_number(region, birth.strftime("%Y%m%d"), f"{sequence:03d}")
    scrubbed = scrub_text(f"{before}{id_number} {mobile}{after}")
    assert id_number not in scrubbed
    assert id_number[:14] not in scrubbed  # neither region nor birth date
    assert mobile not in scrubbed


@given(st.text(max_size=300))
@settings(max_examples=300)
def test_scrubbing_is_idempotent_and_keeps_digit_free_text(text: str) -> None:
    once = scrub_text(text)
    assert scrub_text(once) == once
    if not any(char.isdigit() for char in text):
        assert once == text
