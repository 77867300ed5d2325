"""Payloads without identifiers: dead-letter payloads and values of fields that look personal.

A dead letter keeps the rejected input so an operator can see what was wrong. It must not keep the
person's identifiers. `redact_payload` masks the fields known to be personal (id_number, phone, name,
suspect_account, relatives) and fields whose name looks personal. It scrubs every other string and
truncates the result. It accepts anything, garbage included, and never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from streams.ingest.fields import Errors, FieldValueError, Limits, Reason, parse_text
from streams.ingest.identity import mask_name, scrub_text

MAX_PAYLOAD_CHARS = 4096
PERSONAL_FIELDS = frozenset({"id_number", "phone", "name", "suspect_account", "relatives"})
TRUNCATION_MARK = "…[truncated]"

# Substrings of a lower-cased field name that suggest personal data. Over-matching (station_name) only
# masks a value that was harmless; under-matching would leak one.
_SENSITIVE_KEY = re.compile(
    r"name|phone|mobile|id_?(?:card|no|num|number)\b|id_?(?:card|no|number)_|sfz|account|acct|"
    r"card_?no|bank_?card|(?:^|_)tel(?:$|_)|姓名|名字|身份证|证件|手机|电话|账号|账户|卡号"
)
_NAME_KEY = re.compile(r"name|姓名|名字")
_MAX_DEPTH = 6
_MAX_ITEMS = 200
_MAX_KEY_CHARS = 64
_MAX_INT_BITS = 256
# Characters an identifier is made of: a cut through one must not leave its first half readable.
_IDENTIFIER_TAIL = "0123456789Xx+-() ０１２３４５６７８９"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_QUOTED_PAIR = re.compile(r'"([^"\\\n]{1,64})"(\s*:\s*)("(?:[^"\\\n]|\\.)*(?:"|$)|[^,}\]\s]+)')
_REDACTED = "***"

JsonLike = str | int | float | bool | None | list["JsonLike"] | dict[str, "JsonLike"]


def is_sensitive_key(key: str) -> bool:
    """True when a field name suggests a person's name, ID number, phone or account."""
    return _SENSITIVE_KEY.search(key.lower()) is not None


def mask_sensitive_value(key: str, text: str) -> str:
    """Mask the value of a personal-looking field.

    Names keep their surname (张*). Otherwise the identifiers found in the value are masked as in free
    text (138****5678), and a value with none recognised becomes `***`.
    """
    if _NAME_KEY.search(key.lower()):
        return mask_name(text) or _REDACTED
    scrubbed = scrub_text(text)
    return scrubbed if scrubbed != text else _REDACTED


def truncate_safely(text: str, max_chars: int) -> str:
    """Cut text to at most `max_chars`, dropping any identifier characters left dangling at the cut.

    A cut through an ID number would leave its first digits (region and birth date) unmasked, since
    the scrubber only recognises whole identifiers.
    """
    if len(text) <= max_chars:
        return text
    return text[: max_chars - len(TRUNCATION_MARK)].rstrip(_IDENTIFIER_TAIL) + TRUNCATION_MARK


def redact_payload(raw: bytes | str | Mapping[str, object], limit: int = MAX_PAYLOAD_CHARS) -> str:
    """The input record with identifiers masked or removed, for a dead letter's `redacted_payload`.

    Args:
        raw: the record as parsed (a mapping), or the raw line (bytes or text), even if it is garbage.
        limit: the maximum length of the result.

    Returns:
        JSON text when the input is (or parses as) a JSON object or array, else the scrubbed text;
        always valid UTF-8 and at most `limit` characters.
    """
    if isinstance(raw, Mapping):
        text = _dumps(_redact_mapping(raw, 0, limit))
    else:
        decoded = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        text = _redact_text(truncate_safely(decoded, 4 * limit), limit)
    return truncate_safely(text.encode("utf-8", "replace").decode(), limit)


def _redact_text(text: str, limit: int) -> str:
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        try:
            parsed = json.loads(stripped)
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(parsed, dict | list):
            return _dumps(_redact_value(parsed, 0, limit))
    masked = _QUOTED_PAIR.sub(_mask_quoted_pair, scrub_text(text))
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", masked)


def _mask_quoted_pair(match: re.Match[str]) -> str:
    key, separator, _value = match.groups()
    if key.lower() in PERSONAL_FIELDS or is_sensitive_key(key):
        return f'"{key}"{separator}"{_REDACTED}"'
    return match.group()


# Any: a garbage mapping may have keys that are not strings; they are shown by type only.
def _redact_mapping(mapping: Mapping[Any, object], depth: int, limit: int) -> dict[str, JsonLike]:
    redacted: dict[str, JsonLike] = {}
    for index, (key, value) in enumerate(mapping.items()):
        if index >= _MAX_ITEMS:
            redacted["…"] = f"{len(mapping) - index} more fields"
            break
        name = scrub_text(key[:_MAX_KEY_CHARS]) if isinstance(key, str) else f"<{type(key).__name__}>"
        if name.strip().lower() in PERSONAL_FIELDS or is_sensitive_key(name):
            redacted[name] = _mask_field(name, value)
        else:
            redacted[name] = _redact_value(value, depth + 1, limit)
    return redacted


def _mask_field(name: str, value: object) -> JsonLike:
    if isinstance(value, list | tuple | Mapping):
        return f"<{len(value)} items removed>"
    if isinstance(value, str) or (type(value) is int and value.bit_length() < _MAX_INT_BITS):
        return mask_sensitive_value(name, str(value)[:_MAX_KEY_CHARS])
    return None if value is None else _REDACTED


def _redact_value(value: object, depth: int, limit: int) -> JsonLike:
    if isinstance(value, str):
        return scrub_text(truncate_safely(value, limit))
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        return _redact_int(value)
    if depth >= _MAX_DEPTH:
        return "<nested too deep>"
    if isinstance(value, Mapping):
        return _redact_mapping(value, depth, limit)
    if isinstance(value, list | tuple):
        return [_redact_value(item, depth + 1, limit) for item in value[:_MAX_ITEMS]]
    return f"<{type(value).__name__}>"


def _redact_int(value: int) -> JsonLike:
    if value.bit_length() >= _MAX_INT_BITS:
        return "<large number>"
    digits = str(value)
    masked = scrub_text(digits)
    return value if masked == digits else masked


def _dumps(value: JsonLike) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- Extras -----------------------------------------------------------------------------------------


def collect_extras(
    record: Mapping[str, object], known: frozenset[str], errors: Errors, limits: Limits
) -> dict[str, str]:
    """The fields riskalert does not model, as scrubbed strings (the contract's `extras` map).

    Values are stringified (JSON for lists and objects), and identifiers in them are masked. Values of
    personal-looking fields (e.g. `victim_name`) are masked whole. Null and blank values are dropped.
    """
    if known.issuperset(record):  # the common case, checked without building a set
        return {}
    names = record.keys() - known
    if len(names) > limits.max_extras:
        errors.add("extras", Reason.TOO_MANY_FIELDS, f"at most {limits.max_extras} unmodelled fields")
        return {}
    extras: dict[str, str] = {}
    for name in sorted(names, key=str):
        try:
            key = parse_text(name, limits.max_extra_key_chars)
            value = _extra_text(record[name], limits.max_text_chars)
        except FieldValueError as problem:
            shown = truncate_safely(scrub_text(str(name)), _MAX_KEY_CHARS)
            errors.add("extras", problem.reason, f"field {shown!r} {problem.message}")
            continue
        if value is not None:
            shown_key, sensitive = _extra_key(key)
            extras[shown_key] = mask_sensitive_value(key, value) if sensitive else scrub_text(value)
    return extras


# Extra field names repeat from record to record, so what is learnt about one is cached.
@lru_cache(maxsize=1024)
def _extra_key(key: str) -> tuple[str, bool]:
    """(the key scrubbed of identifiers, whether its value looks personal)."""
    return scrub_text(key), is_sensitive_key(key)


def _extra_text(value: object, max_chars: int) -> str | None:
    if value is None or isinstance(value, str):
        text = value.strip() if value else None
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = _json_text(value)
    return parse_text(text, max_chars) if text else None


def _json_text(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise FieldValueError(Reason.BAD_TYPE, "is not a JSON value") from exc
