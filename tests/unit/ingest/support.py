"""Test helpers: real ID numbers built by an independent check-digit model, a fixed clock, a key."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

SHANGHAI = timezone(timedelta(hours=8))
# 2024-06-01T12:00:00+08:00: every test runs at this instant, so ages and windows never drift.
NOW_MS = int(datetime(2024, 6, 1, 12, tzinfo=SHANGHAI).timestamp() * 1000)
HMAC_KEY = b"unit-test-hmac-key-32-bytes-long"
# GB 11643-1999's own example number.
STANDARD_EXAMPLE_ID = "11010519491231002X"


def check_char(first17: str) -> str:
    """Reference model of the GB 11643 check character: ISO 7064 MOD 11-2.

    Weight i is 2**(17 - i) mod 11; the check value is (12 - sum mod 11) mod 11, where 10 is written X.
    """
    total = sum(int(digit) * pow(2, 17 - index, 11) for index, digit in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def make_id_number(region: str = "330106", birth: str = "19580214", sequence: str = "123") -> str:
    """A valid 18-character ID number: region (6) + birth date (8) + sequence (3) + check character."""
    first17 = region + birth + sequence
    assert len(first17) == 17
    return first17 + check_char(first17)


def wrong_check_char(number: str) -> str:
    """The same number with a check character that is not the right one."""
    wrong = "0" if number[-1] != "0" else "1"
    return number[:-1] + wrong


ID_NUMBER = make_id_number()  # born 1958-02-14: 66 at NOW_MS
YOUNG_ID_NUMBER = make_id_number("440305", "20100808", "456")  # 13 at NOW_MS
MOBILE = "13812345678"
