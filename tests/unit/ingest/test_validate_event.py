"""validate_task_event: ops-system lifecycle events to TaskEvent dicts with deterministic ids."""

from __future__ import annotations

import hashlib

import pytest

from streams.ingest.context import Accepted, IngestContext, Rejected
from streams.ingest.validate import event_id, validate_task_event
from tests.unit.ingest.support import HMAC_KEY, ID_NUMBER, NOW_MS

CONTEXT = IngestContext(HMAC_KEY)
TASK_EVENT_FIELDS = [
    "event_id",
    "task_id",
    "type",
    "occurred_at",
    "ingested_at",
    "source_system",
    "assignee",
    "assignee_type",
    "verify_method",
    "verify_result",
    "outcome",
    "amount_protected_fen",
    "amount_lost_fen",
    "measure",
    "was_dissuaded",
    "note",
    "extras",
    "alert_ref",
]
OCCURRED_AT_MS = NOW_MS - 120_000


def event(event_type: str, **fields: object) -> dict[str, object]:
    return {
        "task_id": "MPS_FUND:MPS-20240601-0001",
        "type": event_type,
        "occurred_at": OCCURRED_AT_MS,
        **fields,
    }


def accepted(record: dict[str, object]) -> dict[str, object]:
    result = validate_task_event(record, CONTEXT, NOW_MS)
    assert isinstance(result, Accepted), result
    assert result.key == record["task_id"]
    assert result.dedup_key == result.record["event_id"]
    return result.record


def rejection(record: dict[str, object]) -> list[tuple[str, str]]:
    result = validate_task_event(record, CONTEXT, NOW_MS)
    assert isinstance(result, Rejected), result
    return [(error.field, error.reason_code) for error in result.errors]


def test_a_dispatch_becomes_the_contract_record() -> None:
    record = accepted(event("DISPATCHED", assignee="PC-0231", assignee_type="民警", source_system="JZZ-OPS"))
    material = f"MPS_FUND:MPS-20240601-0001\x1fDISPATCHED\x1f{OCCURRED_AT_MS}\x1fPC-0231"
    assert record == {
        "event_id": hashlib.sha256(material.encode()).hexdigest()[:32],
        "task_id": "MPS_FUND:MPS-20240601-0001",
        "type": "DISPATCHED",
        "occurred_at": OCCURRED_AT_MS,
        "ingested_at": NOW_MS,
        "source_system": "JZZ-OPS",
        "assignee": "PC-0231",
        "assignee_type": "OFFICER",
        "verify_method": None,
        "verify_result": None,
        "outcome": None,
        "amount_protected_fen": None,
        "amount_lost_fen": None,
        "measure": None,
        "was_dissuaded": None,
        "note": None,
        "extras": {},
        "alert_ref": None,
    }
    assert list(record) == TASK_EVENT_FIELDS


def test_a_redelivered_event_gets_the_same_id_and_another_step_a_different_one() -> None:
    first = accepted(event("VERIFIED", verify_method="PHONE"))
    again = accepted(event("VERIFIED", verify_method="phone", occurred_at="2024-06-01T11:58:00+08:00"))
    other_method = accepted(event("VERIFIED", verify_method="FACE_TO_FACE"))
    later = accepted(event("VERIFIED", verify_method="PHONE", occurred_at=OCCURRED_AT_MS + 1))
    assert first["event_id"] == again["event_id"]
    assert len({first["event_id"], other_method["event_id"], later["event_id"]}) == 3


def test_event_ids_separate_their_parts() -> None:
    assert event_id("a", "RECEIVED", 1, "") != event_id("a\x1fRECEIVED", "", 1, "")
    assert len(event_id("t", "RECEIVED", 1, "")) == 32


@pytest.mark.parametrize(
    ("event_type", "needed"),
    [
        ("DISPATCHED", "assignee"),
        ("VERIFIED", "verify_method"),
        ("FEEDBACK", "outcome"),
        ("PROTECTIVE_MEASURE", "measure"),
    ],
)
def test_each_step_needs_its_detail(event_type: str, needed: str) -> None:
    assert rejection(event(event_type)) == [(needed, "missing_field")]


@pytest.mark.parametrize(
    "event_type", ["RECEIVED", "REFEEDBACK_REQUESTED", "CLOSED", "VICTIMISED_AFTER_WARNING"]
)
def test_other_steps_need_nothing_more(event_type: str) -> None:
    assert accepted(event(event_type))["type"] == event_type


def test_verification_accepts_method_and_result_as_aliases() -> None:
    record = accepted(event("VERIFIED", method="见面", result="本人在家，已当面劝阻；电话 13812345678"))
    assert record["verify_method"] == "FACE_TO_FACE"
    assert record["verify_result"] == "本人在家，已当面劝阻；电话 138****5678"
    assert record["extras"] == {}


def test_feedback_carries_outcome_and_amounts() -> None:
    record = accepted(
        event("FEEDBACK", outcome="劝阻成功", amount_protected_yuan="50000.00", amount_lost_fen="0")
    )
    assert (record["outcome"], record["amount_protected_fen"], record["amount_lost_fen"]) == (
        "DISSUADED",
        5_000_000,
        0,
    )


def test_was_dissuaded_is_kept_only_after_a_victimisation() -> None:
    victimised = accepted(event("VICTIMISED_AFTER_WARNING", was_dissuaded="true", amount_lost_yuan=300))
    assert (victimised["was_dissuaded"], victimised["amount_lost_fen"]) == (True, 30_000)
    assert accepted(event("CLOSED", was_dissuaded=True))["was_dissuaded"] is None


def test_notes_are_scrubbed_of_identifiers() -> None:
    note = accepted(event("RECEIVED", note=f"身份证 {ID_NUMBER} 手机 138-1234-5678"))["note"]
    assert isinstance(note, str)
    assert ID_NUMBER not in note
    assert "1234-5678" not in note


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"type": "ESCALATED"}, [("type", "bad_enum")]),
        ({"type": None}, [("type", "missing_field")]),
        ({"task_id": None}, [("task_id", "missing_field")]),
        ({"occurred_at": NOW_MS + 10 * 60_000}, [("occurred_at", "future_timestamp")]),
        ({"assignee_type": "POLICE_DOG"}, [("assignee_type", "bad_enum")]),
        ({"note": "n" * 1001}, [("note", "too_long")]),
        ({"amount_lost_fen": -5}, [("amount_lost_fen", "negative_amount")]),
        ({"was_dissuaded": "perhaps"}, [("was_dissuaded", "bad_value")]),
    ],
)
def test_bad_events_are_rejected(changes: dict[str, object], errors: list[tuple[str, str]]) -> None:
    record = {name: value for name, value in {**event("RECEIVED"), **changes}.items() if value is not None}
    assert rejection(record) == errors


@pytest.mark.parametrize("assignee", ["13812345678", ID_NUMBER, "officer 1"])
def test_an_assignee_is_a_staff_code_not_a_citizen_identifier(assignee: str) -> None:
    assert rejection(event("DISPATCHED", assignee=assignee)) == [("assignee", "bad_value")]


# --- Events addressed by warning (alert_ref) ---------------------------------------------------------

REF = {"source": "MPS_FUND", "source_alert_id": "MPS-20240601-0001"}


def by_ref(event_type: str, **fields: object) -> dict[str, object]:
    record = event(event_type, **{"alert_ref": dict(REF), **fields})
    del record["task_id"]
    return record


def test_an_event_by_alert_ref_is_keyed_by_alert_key_with_an_empty_task_id() -> None:
    result = validate_task_event(by_ref("RECEIVED"), CONTEXT, NOW_MS)
    assert isinstance(result, Accepted), result
    assert result.key == "MPS_FUND:MPS-20240601-0001"
    assert result.record["task_id"] == ""
    assert result.record["alert_ref"] == REF
    # Until the resolver knows the task, the id is addressed by the alert key (same rule).
    assert result.record["event_id"] == event_id("MPS_FUND:MPS-20240601-0001", "RECEIVED", OCCURRED_AT_MS, "")
    assert list(result.record) == TASK_EVENT_FIELDS


def test_an_event_by_task_id_has_no_alert_ref() -> None:
    assert accepted(event("RECEIVED"))["alert_ref"] is None


def test_alert_ref_source_takes_the_alert_vocabulary() -> None:
    ref = {"source": "金钟罩", "source_alert_id": " JZZ-77821 "}
    result = validate_task_event(by_ref("RECEIVED", alert_ref=ref), CONTEXT, NOW_MS)
    assert isinstance(result, Accepted), result
    assert result.record["alert_ref"] == {"source": "JZZ", "source_alert_id": "JZZ-77821"}
    assert result.key == "JZZ:JZZ-77821"  # the dedup stage's alert key, so the two meet


def test_alert_ref_from_the_two_csv_columns() -> None:
    record = {
        "alert_ref.source": "jzz",
        "alert_ref.source_alert_id": "JZZ-77821",
        "type": "RECEIVED",
        "occurred_at": str(OCCURRED_AT_MS),
    }
    result = validate_task_event(record, CONTEXT, NOW_MS)
    assert isinstance(result, Accepted), result
    assert result.record["alert_ref"] == {"source": "JZZ", "source_alert_id": "JZZ-77821"}
    assert result.record["extras"] == {}


@pytest.mark.parametrize(
    ("record", "errors"),
    [
        ({"type": "RECEIVED", "occurred_at": OCCURRED_AT_MS}, [("task_id", "missing_field")]),
        (
            {**event("RECEIVED"), "alert_ref": dict(REF)},
            [("alert_ref", "conflicting_fields")],
        ),
        (
            by_ref("RECEIVED", alert_ref="MPS_FUND:MPS-1"),
            [("alert_ref", "bad_type")],
        ),
        (
            by_ref("RECEIVED", alert_ref={"source": "NOPE", "source_alert_id": "x"}),
            [("alert_ref.source", "bad_enum")],
        ),
        (
            by_ref("RECEIVED", alert_ref={"source": "JZZ"}),
            [("alert_ref.source_alert_id", "missing_field")],
        ),
        (
            by_ref("RECEIVED", alert_ref={**REF, "phone": "13812345678"}),
            [("alert_ref", "bad_value")],
        ),
    ],
    ids=["neither", "both", "not_an_object", "bad_source", "no_id", "extra_key"],
)
def test_an_event_needs_exactly_one_good_address(
    record: dict[str, object], errors: list[tuple[str, str]]
) -> None:
    assert rejection(record) == errors


def test_the_same_event_by_task_and_by_ref_gets_one_id_once_resolved() -> None:
    from streams.logic.resolver import resolved

    by_task = accepted(event("FEEDBACK", task_id="T0123", outcome="DISSUADED"))
    result = validate_task_event(by_ref("FEEDBACK", outcome="劝阻成功"), CONTEXT, NOW_MS)
    assert isinstance(result, Accepted)
    assert resolved(result.record, "T0123")["event_id"] == by_task["event_id"]
