"""Validators: one parsed input record in; a contract record or the reasons it was rejected out.

`validate_alert`, `validate_task_event` and `validate_victim` check every field. They collect all the
field errors of a record, not only the first. An accepted record is a dict with exactly the fields of
RawAlert, TaskEvent or VictimRecord (schemas/*.avsc). It holds keyed hashes and masked forms,
never a raw name, ID number, phone number or account. The validators never raise on bad input; the
accepted input formats are in docs/input-format.md.
"""

from __future__ import annotations

from collections.abc import Mapping

from streams.ingest import vocab
from streams.ingest.context import (
    Accepted,
    IngestContext,
    Rejected,
    Result,
    amount_field,
    not_a_mapping,
    timestamp_field,
)
from streams.ingest.fields import (
    Errors,
    FieldValueError,
    Reason,
    bind,
    get,
    parse_bool,
    parse_enum,
    parse_ident,
)
from streams.ingest.identity import scrub_text, shanghai_date
from streams.ingest.people import alert_person, parse_account_value, relative_keys, victim_key
from streams.ingest.redact import collect_extras
from streams.logic.event_ids import STEP_DETAIL_FIELD, alert_key_of, event_id

__all__ = [
    "ALERT_FIELDS",
    "EVENT_FIELDS",
    "VICTIM_FIELDS",
    "Accepted",
    "IngestContext",
    "Rejected",
    "Result",
    "event_id",
    "validate_alert",
    "validate_task_event",
    "validate_victim",
]

ALERT_FIELDS = frozenset(
    {
        "source",
        "source_alert_id",
        "issued_at",
        "level",
        "fraud_type",
        "station_code",
        "region_code",
        "id_number",
        "phone",
        "name",
        "age",
        "resident_type",
        "amount_at_risk_fen",
        "amount_at_risk_yuan",
        "suspect_account",
        "channel",
    }
)
_SOURCE = bind(parse_enum, vocab.SOURCES)
_LEVEL = bind(parse_enum, vocab.LEVELS)
_FRAUD_TYPE = bind(parse_enum, vocab.FRAUD_TYPES)
_RESIDENT_TYPE = bind(parse_enum, vocab.RESIDENT_TYPES)


# --- Alerts -----------------------------------------------------------------------------------------


def validate_alert(record: Mapping[str, object], context: IngestContext, now_ms: int) -> Result:
    """Validate one warning and turn it into a RawAlert dict.

    Args:
        record: the parsed input record (JSON object or CSV row; CSV cells are strings).
        context: the keyer and limits.
        now_ms: the current time (UTC epoch ms); also the record's `ingested_at`.

    Returns:
        Accepted with the RawAlert dict, keyed by person_key (or "anon:" + alert_key), or Rejected.
    """
    if (rejected := not_a_mapping(record)) is not None:
        return rejected
    errors = Errors()
    limits = context.limits
    source = get(record, "source", errors, _SOURCE, required=True)
    source_alert_id = get(record, "source_alert_id", errors, context.ident, required=True)
    issued_at = timestamp_field(
        record, "issued_at", errors, (now_ms, limits.max_age_ms, limits.future_skew_ms)
    )
    level = get(record, "level", errors, _LEVEL, required=True)
    fraud_type = get(record, "fraud_type", errors, _FRAUD_TYPE) or "OTHER"
    station_code = get(record, "station_code", errors, context.code, required=True)
    region_code = get(record, "region_code", errors, context.code, required=True)
    person = alert_person(record, errors, context.keyer, context.name, now_ms, issued_at)
    resident_type = get(record, "resident_type", errors, _RESIDENT_TYPE) or "UNKNOWN"
    amount_at_risk_fen = amount_field(record, "amount_at_risk", errors, context) or 0
    account = get(record, "suspect_account", errors, parse_account_value)
    channel = get(record, "channel", errors, context.code)
    extras = collect_extras(record, ALERT_FIELDS, errors, limits)
    if errors:
        return Rejected(tuple(errors))
    alert_key = f"{source}:{source_alert_id}"
    alert: dict[str, object] = {
        "alert_key": alert_key,
        "source": source,
        "source_alert_id": source_alert_id,
        "issued_at": issued_at,
        "ingested_at": now_ms,
        "level": level,
        "fraud_type": fraud_type,
        "station_code": station_code,
        "region_code": region_code,
        **person,
        "resident_type": resident_type,
        "amount_at_risk_fen": amount_at_risk_fen,
        "suspect_account_hash": None if account is None else context.keyer.of_account(account),
        "channel": None if channel is None else channel.upper(),
        "extras": extras,
    }
    return Accepted(alert, key=str(person["person_key"] or "anon:" + alert_key), dedup_key=alert_key)


# --- Victim records ---------------------------------------------------------------------------------


VICTIM_FIELDS = frozenset(
    {
        "case_id",
        "id_number",
        "phone",
        "name",
        "relatives",
        "case_at",
        "loss_fen",
        "loss_yuan",
        "fraud_type",
        "station_code",
    }
)


def validate_victim(record: Mapping[str, object], context: IngestContext, now_ms: int) -> Result:
    """Validate one case record (立案) and turn it into a VictimRecord dict.

    Fields outside VICTIM_FIELDS, and `name`, are ignored: VictimRecord has no extras, and a case record
    carries much personal detail that riskalert must not keep.

    Returns:
        Accepted with the VictimRecord dict, keyed by person_key, or Rejected.
    """
    if (rejected := not_a_mapping(record)) is not None:
        return rejected
    errors = Errors()
    limits = context.limits
    today = shanghai_date(now_ms)
    case_id = get(record, "case_id", errors, context.ident, required=True)
    person_key = victim_key(record, errors, context.keyer, today)
    relatives = relative_keys(record.get("relatives"), errors, context.keyer, today, limits.max_relatives)
    window = (now_ms, limits.victim_max_age_ms, limits.future_skew_ms)
    case_at = timestamp_field(record, "case_at", errors, window, allow_date_only=True)
    errors_before = len(errors)
    loss_fen = amount_field(record, "loss", errors, context)
    if loss_fen is None and len(errors) == errors_before:
        errors.add("loss_fen", Reason.MISSING_FIELD, "loss_fen or loss_yuan is required")
    fraud_type = get(record, "fraud_type", errors, _FRAUD_TYPE) or "OTHER"
    station_code = get(record, "station_code", errors, context.code)
    if errors or person_key is None or case_id is None:
        return Rejected(tuple(errors))
    victim: dict[str, object] = {
        "case_id": case_id,
        "person_key": person_key,
        "relative_keys": [key for key in relatives if key != person_key],
        "case_at": case_at,
        "loss_fen": loss_fen,
        "fraud_type": fraud_type,
        "station_code": station_code,
        "ingested_at": now_ms,
    }
    return Accepted(victim, key=person_key, dedup_key=case_id)


# --- Task events ------------------------------------------------------------------------------------

# CSV cannot nest: there the warning an event is addressed to comes in two flat columns.
ALERT_REF_COLUMNS = ("alert_ref.source", "alert_ref.source_alert_id")
EVENT_FIELDS = frozenset(
    {
        "task_id",
        "alert_ref",
        *ALERT_REF_COLUMNS,
        "type",
        "occurred_at",
        "source_system",
        "assignee",
        "assignee_type",
        "verify_method",
        "method",
        "verify_result",
        "result",
        "outcome",
        "amount_protected_fen",
        "amount_protected_yuan",
        "amount_lost_fen",
        "amount_lost_yuan",
        "measure",
        "was_dissuaded",
        "note",
    }
)
_EVENT_TYPE = bind(parse_enum, vocab.TASK_EVENT_TYPES)
_ASSIGNEE_TYPE = bind(parse_enum, vocab.ASSIGNEE_TYPES)
_VERIFY_METHOD = bind(parse_enum, vocab.VERIFY_METHODS)
_OUTCOME = bind(parse_enum, vocab.OUTCOMES)
_MEASURE = bind(parse_enum, vocab.MEASURES)


def validate_task_event(record: Mapping[str, object], context: IngestContext, now_ms: int) -> Result:
    """Validate one task lifecycle event from an ops system and turn it into a TaskEvent dict.

    The event is addressed either to a task (`task_id`) or to the warning the ops system received
    (`alert_ref` = {source, source_alert_id}; in CSV the columns `alert_ref.source` and
    `alert_ref.source_alert_id`), not both. DISPATCHED needs `assignee`, VERIFIED `verify_method`
    (alias `method`), FEEDBACK `outcome` and PROTECTIVE_MEASURE `measure`. `was_dissuaded` is kept only
    on VICTIMISED_AFTER_WARNING.

    Returns:
        Accepted with the TaskEvent dict and a deterministic event_id, keyed by task_id (or, addressed by
        warning, by alert key with an empty task_id: the resolver fills it in); or Rejected.
    """
    if (rejected := not_a_mapping(record)) is not None:
        return rejected
    errors = Errors()
    limits = context.limits
    task_id = get(record, "task_id", errors, context.ident)
    alert_ref = _alert_ref(record, errors, context)
    _one_address(record, task_id, alert_ref, errors)
    event_type = get(record, "type", errors, _EVENT_TYPE, required=True)
    occurred_at = timestamp_field(
        record, "occurred_at", errors, (now_ms, limits.max_age_ms, limits.future_skew_ms)
    )
    event: dict[str, object] = {
        "task_id": task_id or "",
        "type": event_type,
        "occurred_at": occurred_at,
        "ingested_at": now_ms,
    }
    event |= _event_details(record, errors, context, STEP_DETAIL_FIELD.get(event_type or ""))
    if event_type != "VICTIMISED_AFTER_WARNING":
        event["was_dissuaded"] = None
    event["extras"] = collect_extras(record, EVENT_FIELDS, errors, limits)
    event["alert_ref"] = alert_ref
    if errors or event_type is None or occurred_at is None:
        return Rejected(tuple(errors))
    address = task_id or alert_key_of(alert_ref or {})
    detail = event.get(STEP_DETAIL_FIELD.get(event_type, ""))
    the_id = event_id(address, event_type, occurred_at, detail if isinstance(detail, str) else "")
    return Accepted({"event_id": the_id, **event}, key=address, dedup_key=the_id)


def _alert_ref(
    record: Mapping[str, object], errors: Errors, context: IngestContext
) -> dict[str, object] | None:
    """The warning an event is addressed to: `alert_ref` as an object, or the two CSV columns."""
    value = record.get("alert_ref")
    if value is None and not any(_present(record.get(column)) for column in ALERT_REF_COLUMNS):
        return None
    if value is None:
        fields: Mapping[str, object] = {
            "source": record.get(ALERT_REF_COLUMNS[0]),
            "source_alert_id": record.get(ALERT_REF_COLUMNS[1]),
        }
    elif isinstance(value, Mapping):
        fields = value
        if set(value) - {"source", "source_alert_id"}:
            errors.add("alert_ref", Reason.BAD_VALUE, "holds only source and source_alert_id")
    else:
        errors.add("alert_ref", Reason.BAD_TYPE, "must be an object {source, source_alert_id}")
        return None
    source = get(fields, "source", errors, _SOURCE, required=True, label="alert_ref.source")
    alert_id = get(
        fields, "source_alert_id", errors, context.ident, required=True, label="alert_ref.source_alert_id"
    )
    if source is None or alert_id is None:
        return None
    return {"source": source, "source_alert_id": alert_id}


def _one_address(
    record: Mapping[str, object], task_id: str | None, alert_ref: dict[str, object] | None, errors: Errors
) -> None:
    """An event names its task or its warning, exactly one of them."""
    ref_given = _present(record.get("alert_ref")) or any(_present(record.get(c)) for c in ALERT_REF_COLUMNS)
    task_given = _present(record.get("task_id"))
    if task_given and ref_given:
        errors.add("alert_ref", Reason.CONFLICTING_FIELDS, "give task_id or alert_ref, not both")
    elif not task_given and not ref_given:
        errors.add("task_id", Reason.MISSING_FIELD, "task_id or alert_ref is required")


def _present(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def _event_details(
    record: Mapping[str, object], errors: Errors, context: IngestContext, required_field: str | None
) -> dict[str, object]:
    """The optional TaskEvent fields, in contract order; `required_field` must be present."""
    staff_code = bind(parse_staff_code, context.limits.max_id_chars)
    method_field = _field_or_alias(record, "verify_method", "method")
    result_field = _field_or_alias(record, "verify_result", "result")
    return {
        "source_system": get(record, "source_system", errors, context.code),
        "assignee": get(record, "assignee", errors, staff_code, required=required_field == "assignee"),
        "assignee_type": get(record, "assignee_type", errors, _ASSIGNEE_TYPE),
        "verify_method": get(
            record, method_field, errors, _VERIFY_METHOD, required=required_field == "verify_method"
        ),
        "verify_result": get(record, result_field, errors, context.text),
        "outcome": get(record, "outcome", errors, _OUTCOME, required=required_field == "outcome"),
        "amount_protected_fen": amount_field(record, "amount_protected", errors, context),
        "amount_lost_fen": amount_field(record, "amount_lost", errors, context),
        "measure": get(record, "measure", errors, _MEASURE, required=required_field == "measure"),
        "was_dissuaded": get(record, "was_dissuaded", errors, parse_bool),
        "note": get(record, "note", errors, context.text),
    }


def parse_staff_code(value: object, max_chars: int) -> str:
    """An assignee: an officer's or grid worker's code, never a citizen's phone, ID or card number."""
    code = parse_ident(value, max_chars)
    if scrub_text(code) != code:
        raise FieldValueError(Reason.BAD_VALUE, "must be a staff code, not a phone, ID or card number")
    return code


def _field_or_alias(record: Mapping[str, object], field: str, alias: str) -> str:
    return alias if alias in record and field not in record else field
