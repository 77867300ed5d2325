"""Personal-identifier fields: ID numbers, phones, names, accounts and relatives, to keys and masks.

These parsers are the only place where a raw identifier from an input record is read. What they return
is either normalised (to be hashed at once) or masked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import TypeVar

from streams.errors import InvalidIdentifierError
from streams.ingest.fields import Errors, FieldValueError, Reason, bind, get, parse_int_between, parse_text
from streams.ingest.identity import (
    IdNumber,
    PersonKeyer,
    age_band,
    age_in_years,
    check_born_by,
    check_id_number,
    mask_name,
    mask_phone,
    normalise_account,
    normalise_id_number,
    normalise_phone,
    shanghai_date,
)

MAX_AGE_YEARS = 150
# Relatives in one CSV cell are separated by ';' (a ',' would split the cell); '；' is the full-width form.
RELATIVE_SEPARATORS = str.maketrans({"；": ";"})
_MAX_IDENTIFIER_CHARS = 40
T = TypeVar("T")
_AGE = bind(parse_int_between, (0, MAX_AGE_YEARS))


def _identifier(value: object, check: Callable[[str], T], reason: Reason) -> T:
    """Parse a text identifier with `check`; any problem (type, length, format) is reported as `reason`."""
    try:
        return check(parse_text(value, _MAX_IDENTIFIER_CHARS))
    except InvalidIdentifierError as exc:
        raise FieldValueError(reason, str(exc)) from exc
    except FieldValueError as problem:
        raise FieldValueError(reason, problem.message) from problem


def parse_id_value(value: object) -> IdNumber:
    """An ID number field, checked and normalised; `id_number_field` also checks the birth date."""
    return _identifier(value, check_id_number, Reason.BAD_ID_NUMBER)


def parse_phone_value(value: object) -> str:
    """A phone field, normalised to digits (see `identity.normalise_phone`)."""
    return _identifier(value, normalise_phone, Reason.BAD_PHONE)


def parse_account_value(value: object) -> str:
    """A suspect account field, normalised to digits (see `identity.normalise_account`)."""
    return _identifier(value, normalise_account, Reason.BAD_ACCOUNT)


def id_number_field(
    record: Mapping[str, object], errors: Errors, today: date, label: str = "id_number"
) -> IdNumber | None:
    """The `id_number` field, checked, normalised and born by `today`; None when absent or invalid."""
    id_number = get(record, "id_number", errors, parse_id_value, label=label)
    if id_number is None:
        return None
    try:
        check_born_by(id_number, today)
    except InvalidIdentifierError as exc:
        errors.add(label, Reason.BAD_ID_NUMBER, str(exc))
        return None
    return id_number


def alert_person(
    record: Mapping[str, object],
    errors: Errors,
    keyer: PersonKeyer,
    parse_name: Callable[[object], str],
    now_ms: int,
    issued_at: int | None,
) -> dict[str, object]:
    """A warning's person fields, in contract order: person_key, person_key_kind, masked_name,
    masked_phone and age_band.

    The ID number wins over the phone for the key. The age comes from the ID number's birth date on the
    day the warning was issued, else from the `age` field.
    """
    id_number = id_number_field(record, errors, shanghai_date(now_ms))
    phone = get(record, "phone", errors, parse_phone_value)
    name = get(record, "name", errors, parse_name)
    age = get(record, "age", errors, _AGE)
    if id_number is not None:
        age = age_in_years(id_number.birth_date, shanghai_date(issued_at or now_ms))
    person_key, kind = keyer.person_key(None if id_number is None else id_number.normalised, phone)
    return {
        "person_key": person_key,
        "person_key_kind": kind,
        "masked_name": None if name is None else mask_name(name),
        "masked_phone": None if phone is None else mask_phone(phone),
        "age_band": age_band(age),
    }


def victim_key(record: Mapping[str, object], errors: Errors, keyer: PersonKeyer, today: date) -> str | None:
    """A victim's person key from `id_number`, else `phone`; one of them is required."""
    errors_before = len(errors)
    id_number = id_number_field(record, errors, today)
    phone = get(record, "phone", errors, parse_phone_value)
    if id_number is None and phone is None and len(errors) == errors_before:
        errors.add("id_number", Reason.MISSING_FIELD, "id_number or phone is required")
    return keyer.person_key(None if id_number is None else id_number.normalised, phone)[0]


def relative_keys(
    value: object, errors: Errors, keyer: PersonKeyer, today: date, max_relatives: int
) -> list[str]:
    """The person keys of a victim's relatives, without duplicates, in input order.

    Args:
        value: a list of {"id_number" | "phone"} objects or of identifier strings, or one string of
            identifiers separated by ';' (CSV). An 18-character identifier is an ID number, any other a
            phone number.
        errors: where field errors go, named `relatives[i]` or `relatives[i].id_number`.
        keyer: the person keyer.
        today: the reference date for birth dates.
        max_relatives: the most relatives one record may list.
    """
    items = _relative_items(value, errors)
    if len(items) > max_relatives:
        errors.add("relatives", Reason.TOO_MANY_ITEMS, f"lists more than {max_relatives} relatives")
        return []
    keys: dict[str, None] = {}
    for index, item in enumerate(items):
        key = _relative_key(item, f"relatives[{index}]", errors, keyer, today)
        if key is not None:
            keys[key] = None
    return list(keys)


def _relative_items(value: object, errors: Errors) -> list[object]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in value.translate(RELATIVE_SEPARATORS).split(";") if part.strip()]
    if isinstance(value, list):
        return value
    errors.add("relatives", Reason.BAD_TYPE, "must be a list or a ';'-separated string")
    return []


def _relative_key(item: object, label: str, errors: Errors, keyer: PersonKeyer, today: date) -> str | None:
    if not isinstance(item, Mapping):
        item = {"id_number" if _looks_like_id_number(item) else "phone": item}
    errors_before = len(errors)
    id_number = id_number_field(item, errors, today, label + ".id_number")
    phone = get(item, "phone", errors, parse_phone_value, label=label + ".phone")
    if id_number is None and phone is None and len(errors) == errors_before:
        errors.add(label, Reason.MISSING_FIELD, "a relative needs id_number or phone")
    return keyer.person_key(None if id_number is None else id_number.normalised, phone)[0]


def _looks_like_id_number(item: object) -> bool:
    if type(item) is int:
        return 10**17 <= item < 10**18
    return isinstance(item, str) and len(item) < 64 and len(normalise_id_number(item)) == 18
