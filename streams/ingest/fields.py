"""Field-level parsing for the ingest validators: one function per kind of field, no per-record objects.

A parser takes one present value and returns the canonical value, or raises `FieldValueError`. `get`
fetches a field, treats null and blank as absent, and turns a problem into a `FieldError`. Error
messages name the field and the rule and never quote the value, because the value may be personal data.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import TypeVar

T = TypeVar("T")
Bound = TypeVar("Bound")

DAY_MS = 86_400_000
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
# Integers below this (1973-03-03) are taken for epoch seconds sent by mistake.
MIN_EPOCH_MS = 100_000_000_000
MAX_TIMESTAMP_CHARS = 40
MAX_AMOUNT_CHARS = 40
# Avro long holds 19 digits; longer digit strings are rejected before int() sees them.
MAX_INT_DIGITS = 19

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_CODE = re.compile(r"[\w.:\-]+")
_YUAN = re.compile(r"(-?)([0-9]+)(?:\.([0-9]*))?")
_TRUE = frozenset({"TRUE", "1", "YES", "Y", "是"})
_FALSE = frozenset({"FALSE", "0", "NO", "N", "否"})


class Reason(StrEnum):
    """The bounded reason codes of a rejected field (usable as a metric label and dead-letter reason)."""

    MISSING_FIELD = "missing_field"
    BAD_TYPE = "bad_type"
    BAD_VALUE = "bad_value"
    BAD_ENUM = "bad_enum"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_OLD = "too_old"
    BAD_AMOUNT = "bad_amount"
    NEGATIVE_AMOUNT = "negative_amount"
    AMOUNT_TOO_LARGE = "amount_too_large"
    CONFLICTING_FIELDS = "conflicting_fields"
    BAD_ID_NUMBER = "bad_id_number"
    BAD_PHONE = "bad_phone"
    BAD_ACCOUNT = "bad_account"
    TOO_LONG = "too_long"
    TOO_MANY_FIELDS = "too_many_fields"
    TOO_MANY_ITEMS = "too_many_items"
    NOT_AN_OBJECT = "not_an_object"


@dataclass(frozen=True, slots=True)
class FieldError:
    """Why one field of one record was rejected.

    Attributes:
        field: the input field name, e.g. `issued_at` or `relatives[2].id_number`.
        reason_code: a `Reason` value.
        message: the rule that was broken, for people; never contains the value.
    """

    field: str
    reason_code: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(frozen=True, slots=True)
class Limits:
    """Configurable bounds on input records; the defaults suit the centre's upstream feeds."""

    future_skew_ms: int = 5 * 60 * 1000
    max_age_ms: int = 400 * DAY_MS
    victim_max_age_ms: int = 20 * 365 * DAY_MS
    max_amount_fen: int = 100_000_000_000
    max_code_chars: int = 32
    max_id_chars: int = 64
    max_name_chars: int = 64
    max_text_chars: int = 1000
    max_extras: int = 32
    max_extra_key_chars: int = 64
    max_relatives: int = 50


class FieldValueError(Exception):
    """Raised by a parser; `get` turns it into a `FieldError` for the field being parsed."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class Errors(list[FieldError]):
    """The field errors of one record, in field order."""

    def add(self, field: str, reason: Reason, message: str) -> None:
        """Record one rejected field."""
        self.append(FieldError(field, reason.value, message))


def get(
    record: Mapping[str, object],
    field: str,
    errors: Errors,
    parse: Callable[[object], T],
    *,
    required: bool = False,
    label: str | None = None,
) -> T | None:
    """Parse one field. Absent, null and blank values give None (and an error when required).

    Strings are stripped before they reach the parser. Errors name the field `label` (default: `field`).
    """
    value = record.get(field)
    if type(value) is str:
        value = value.strip()
        absent = not value
    else:
        absent = value is None
    if absent:
        if required:
            errors.add(label or field, Reason.MISSING_FIELD, "is required")
        return None
    try:
        return parse(value)
    except FieldValueError as problem:
        errors.add(label or field, problem.reason, problem.message)
        return None


def bind(parse: Callable[[object, Bound], T], bound: Bound) -> Callable[[object], T]:
    """`parse` with its second argument fixed, for `get`.

    A closure costs one Python call; a keyword `functools.partial` costs four times that, and the
    validators make a dozen such calls per record.
    """

    def parse_value(value: object) -> T:
        return parse(value, bound)

    return parse_value


# --- Strings ----------------------------------------------------------------------------------------


def parse_text(value: object, max_chars: int) -> str:
    """A string (or an integer, taken as its digits) of at most `max_chars` valid Unicode characters."""
    if type(value) is not str:
        value = _integer_text(value)
    if len(value) > max_chars:
        raise FieldValueError(Reason.TOO_LONG, f"is longer than {max_chars} characters")
    if not value.isascii() and not is_encodable(value):
        raise FieldValueError(Reason.BAD_VALUE, "is not valid Unicode (lone surrogate)")
    return value


def _integer_text(value: object) -> str:
    if type(value) is int and value.bit_length() < 256:
        return str(value)
    raise FieldValueError(Reason.BAD_TYPE, "must be a string")


def is_encodable(text: str) -> bool:
    """True when the text can be encoded as UTF-8 (JSON can carry lone surrogates, Avro cannot)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def parse_code(value: object, max_chars: int) -> str:
    """A code (station, region, channel, system): letters, digits, `.`, `:`, `_` and `-` only."""
    # Fast path: a matching string needs no further checks (\w excludes lone surrogates).
    if type(value) is str and len(value) <= max_chars and _CODE.fullmatch(value):
        return value
    text = parse_text(value, max_chars)
    if not _CODE.fullmatch(text):
        raise FieldValueError(Reason.BAD_VALUE, "may hold only letters, digits, '.', ':', '_' and '-'")
    return text


def parse_ident(value: object, max_chars: int) -> str:
    """An upstream id (alert, task, case): printable characters other than spaces.

    `isprintable` also refuses invisible format characters such as bidi overrides (U+202E), and lone
    surrogates.
    """
    text = parse_text(value, max_chars)
    if not text.isprintable() or " " in text:
        raise FieldValueError(Reason.BAD_VALUE, "must not contain spaces, control or format characters")
    return text


def parse_enum(value: object, table: Mapping[str, str]) -> str:
    """The canonical symbol for a spelling in `table` (any case)."""
    if not isinstance(value, str):
        raise FieldValueError(Reason.BAD_TYPE, "must be a string")
    symbol = table.get(value.upper())
    if symbol is None:
        choices = ", ".join(dict.fromkeys(table.values()))
        raise FieldValueError(Reason.BAD_ENUM, f"must be one of {choices}")
    return symbol


# --- Numbers and booleans ---------------------------------------------------------------------------


def parse_whole(value: object) -> int:
    """An integer: a JSON integer, a whole float (100.0) or a string of ASCII digits with optional `-`."""
    if isinstance(value, bool):
        raise FieldValueError(Reason.BAD_TYPE, "must be a number, not true/false")
    if isinstance(value, float):
        if not value.is_integer():
            raise FieldValueError(Reason.BAD_VALUE, "must be a whole number")
        return int(value)
    if isinstance(value, int):
        return value
    if not isinstance(value, str):
        raise FieldValueError(Reason.BAD_TYPE, "must be a whole number")
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()) or len(digits) > MAX_INT_DIGITS:
        raise FieldValueError(Reason.BAD_VALUE, f"must be a whole number of at most {MAX_INT_DIGITS} digits")
    return int(value)


def parse_int_between(value: object, bounds: tuple[int, int]) -> int:
    """A whole number in [low, high] = `bounds`."""
    number = parse_whole(value)
    low, high = bounds
    if not low <= number <= high:
        raise FieldValueError(Reason.BAD_VALUE, f"must be between {low} and {high}")
    return number


def parse_bool(value: object) -> bool:
    """true/false, 1/0, yes/no, 是/否 (any case), or a JSON boolean."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str) and value.upper() in _TRUE:
        return True
    if isinstance(value, str) and value.upper() in _FALSE:
        return False
    raise FieldValueError(Reason.BAD_VALUE, "must be true or false")


def parse_fen(value: object, max_fen: int) -> int:
    """Money in fen: a non-negative whole number up to `max_fen`."""
    if not isinstance(value, str):
        try:
            return bounded_fen(parse_whole(value), max_fen)
        except FieldValueError as problem:
            if problem.reason is not Reason.BAD_VALUE:
                raise
            raise FieldValueError(Reason.BAD_AMOUNT, "must be a whole number of fen") from problem
    digits = value.removeprefix("-")
    if not (digits.isascii() and digits.isdigit()):
        raise FieldValueError(Reason.BAD_AMOUNT, "must be a whole number of fen")
    if len(digits) > MAX_INT_DIGITS:
        negative = len(digits) < len(value)
        raise FieldValueError(
            Reason.NEGATIVE_AMOUNT if negative else Reason.AMOUNT_TOO_LARGE, "is out of range"
        )
    return bounded_fen(int(value), max_fen)


def parse_yuan(value: object, max_fen: int) -> int:
    """Money in yuan, converted exactly to fen: a decimal string or number with at most 2 decimals."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise FieldValueError(Reason.BAD_TYPE, "must be a decimal number of yuan")
    if isinstance(value, int):
        return bounded_fen(value * 100, max_fen)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldValueError(Reason.BAD_AMOUNT, "must be a finite number")
        if value < 0:
            raise FieldValueError(Reason.NEGATIVE_AMOUNT, "must not be negative")
        if value * 100 > max_fen:
            raise FieldValueError(Reason.AMOUNT_TOO_LARGE, f"must be at most {max_fen} fen")
        # repr is the shortest string that reads back as the same float: 12.34 -> '12.34'.
        value = repr(value)
    return bounded_fen(_decimal_yuan_to_fen(value), max_fen)


def _decimal_yuan_to_fen(text: str) -> int:
    match = _YUAN.fullmatch(text) if len(text) <= MAX_AMOUNT_CHARS else None
    if match is None:
        raise FieldValueError(Reason.BAD_AMOUNT, "must be a decimal number of yuan, e.g. 1234.56")
    sign, whole, fraction = match.groups()
    fraction = (fraction or "").rstrip("0")
    if len(fraction) > 2:
        raise FieldValueError(Reason.BAD_AMOUNT, "must have at most 2 decimals (whole fen)")
    if len(whole) > MAX_INT_DIGITS - 2:
        raise FieldValueError(Reason.NEGATIVE_AMOUNT if sign else Reason.AMOUNT_TOO_LARGE, "is out of range")
    fen = int(whole) * 100 + int(fraction.ljust(2, "0"))
    return -fen if sign else fen


def bounded_fen(fen: int, max_fen: int) -> int:
    """Check an amount in fen against 0 and the configured maximum."""
    if fen < 0:
        raise FieldValueError(Reason.NEGATIVE_AMOUNT, "must not be negative")
    if fen > max_fen:
        raise FieldValueError(Reason.AMOUNT_TOO_LARGE, f"must be at most {max_fen} fen")
    return fen


# --- Timestamps -------------------------------------------------------------------------------------


def parse_timestamp(value: object, *, allow_date_only: bool = False) -> int:
    """UTC epoch milliseconds from ISO-8601 (naive means +08:00) or an epoch-milliseconds integer.

    Args:
        value: the input value.
        allow_date_only: accept a bare date (2024-05-01, 20240501) as midnight in China.
    """
    if isinstance(value, bool):
        raise FieldValueError(Reason.BAD_TYPE, "must be an ISO-8601 string or epoch milliseconds")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return _epoch_ms(value)
    if not isinstance(value, str) or len(value) > MAX_TIMESTAMP_CHARS:
        raise FieldValueError(Reason.BAD_TIMESTAMP, "must be an ISO-8601 string or epoch milliseconds")
    if value.isascii() and value.isdigit() and not (allow_date_only and len(value) == 8):
        return _epoch_ms(int(value))
    return _iso_ms(value, allow_date_only)


def _epoch_ms(epoch_ms: int) -> int:
    if epoch_ms < MIN_EPOCH_MS:
        raise FieldValueError(Reason.BAD_TIMESTAMP, "must be epoch milliseconds (this looks like seconds)")
    return epoch_ms


def _iso_ms(text: str, allow_date_only: bool) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise FieldValueError(
            Reason.BAD_TIMESTAMP, "must be ISO-8601 (2024-05-01T10:00:00+08:00) or epoch milliseconds"
        ) from exc
    # A time of day needs at least YYYYMMDDThh, 11 characters; anything shorter is a bare date.
    if len(text) <= 10 and not allow_date_only:
        raise FieldValueError(Reason.BAD_TIMESTAMP, "needs a time of day, not only a date")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return (moment - _EPOCH) // _ONE_MS


def check_window(epoch_ms: int, now_ms: int, max_age_ms: int, future_skew_ms: int) -> int:
    """Reject a time more than `future_skew_ms` ahead of now or more than `max_age_ms` behind it."""
    if epoch_ms > now_ms + future_skew_ms:
        raise FieldValueError(
            Reason.FUTURE_TIMESTAMP, f"is more than {future_skew_ms // 1000} s in the future"
        )
    if epoch_ms < now_ms - max_age_ms:
        raise FieldValueError(Reason.TOO_OLD, f"is more than {max_age_ms // DAY_MS} days old")
    return epoch_ms
