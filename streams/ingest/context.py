"""What every validator shares: the run's context, the result types and the common field kinds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from streams.ingest.fields import (
    Errors,
    FieldError,
    FieldValueError,
    Limits,
    Reason,
    bind,
    check_window,
    get,
    parse_code,
    parse_fen,
    parse_ident,
    parse_text,
    parse_timestamp,
    parse_yuan,
)
from streams.ingest.identity import PersonKeyer, scrub_text


class Accepted(NamedTuple):
    """A valid record, ready to encode (a named tuple, the cheapest immutable record to build).

    Attributes:
        record: the contract dict (RawAlert, TaskEvent or VictimRecord fields, exactly).
        key: the Kafka message key: person_key (or "anon:" + alert_key), task_id, or person_key.
        dedup_key: the record's identity within one input, to spot duplicates in a file: alert_key,
            event_id or case_id.
    """

    record: dict[str, object]
    key: str
    dedup_key: str


class Rejected(NamedTuple):
    """An invalid record: every field error found, in field order."""

    errors: tuple[FieldError, ...]

    @property
    def reason(self) -> str:
        """The first error's reason code, for the dead letter's `reason` and metric labels."""
        return self.errors[0].reason_code

    @property
    def message(self) -> str:
        """All errors, for the dead letter's `error`: `issued_at: is required; level: must be one of ...`."""
        return "; ".join(str(error) for error in self.errors)


Result = Accepted | Rejected


class IngestContext:
    """What the validators need besides the record, built once per ingest run.

    Attributes:
        keyer: the HMAC person keyer.
        limits: the input bounds.
    """

    __slots__ = ("code", "fen", "ident", "keyer", "limits", "name", "text", "yuan")

    def __init__(self, hmac_key: bytes, limits: Limits | None = None) -> None:
        """Prepare the keyer and the limit-bound parsers.

        Args:
            hmac_key: the pseudonymisation key, `Settings.hmac_key_bytes()`.
            limits: input bounds; None means the defaults.
        """
        self.keyer = PersonKeyer(hmac_key)
        self.limits = limits = limits or Limits()
        self.code = bind(parse_code, limits.max_code_chars)
        self.ident = bind(parse_ident, limits.max_id_chars)
        self.name = bind(parse_text, limits.max_name_chars)
        self.text = bind(parse_free_text, limits.max_text_chars)
        self.fen = bind(parse_fen, limits.max_amount_fen)
        self.yuan = bind(parse_yuan, limits.max_amount_fen)

    def __repr__(self) -> str:
        return f"IngestContext(keyer={self.keyer!r}, limits={self.limits!r})"


# --- Shared field kinds -----------------------------------------------------------------------------


def parse_free_text(value: object, max_chars: int) -> str:
    """Free text (notes, results): at most `max_chars`, with identifiers masked."""
    return scrub_text(parse_text(value, max_chars))


def timestamp_field(
    record: Mapping[str, object],
    field: str,
    errors: Errors,
    window: tuple[int, int, int],
    *,
    allow_date_only: bool = False,
) -> int | None:
    """A required timestamp field inside (now, max age, future skew) = `window`."""
    epoch_ms = get(
        record, field, errors, parse_date_or_time if allow_date_only else parse_timestamp, required=True
    )
    if epoch_ms is None:
        return None
    try:
        return check_window(epoch_ms, *window)
    except FieldValueError as problem:
        errors.add(field, problem.reason, problem.message)
        return None


def parse_date_or_time(value: object) -> int:
    """A timestamp that may also be a bare date (midnight in China), as case records give them."""
    return parse_timestamp(value, allow_date_only=True)


def amount_field(
    record: Mapping[str, object], base: str, errors: Errors, context: IngestContext
) -> int | None:
    """Money from `<base>_fen` or `<base>_yuan` (not both); None when neither is given."""
    fen = get(record, base + "_fen", errors, context.fen)
    yuan = get(record, base + "_yuan", errors, context.yuan)
    if fen is not None and yuan is not None:
        errors.add(base + "_fen", Reason.CONFLICTING_FIELDS, f"give {base}_fen or {base}_yuan, not both")
    return fen if fen is not None else yuan


def not_a_mapping(record: object) -> Rejected | None:
    """A rejection when the record is not a JSON object / CSV row at all."""
    if isinstance(record, Mapping):
        return None
    return Rejected((FieldError("", Reason.NOT_AN_OBJECT.value, "a record must be a JSON object"),))
