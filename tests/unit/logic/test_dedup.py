"""The dedup, merge and enrichment rules, without Kafka."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.dedup import (
    DAY_MS,
    HOUR_MS,
    DedupConfig,
    Outcome,
    PersonState,
    Position,
    on_alert,
    state_key,
    task_id_for,
)
from streams.logic.lifecycle import on_relation_fact, on_task_fact, on_victim_record, relation_fact

T0 = 1_790_000_000_000
CONFIG = DedupConfig()


def alert(n: int, minutes: float = 0, person: str | None = "p1", **overrides: Any) -> dict[str, Any]:
    record = {
        "alert_key": f"JZZ:{n}",
        "source": "JZZ",
        "source_alert_id": str(n),
        "issued_at": T0 + int(minutes * 60_000),
        "ingested_at": T0,
        "level": "MEDIUM",
        "fraud_type": "FAKE_LOAN",
        "station_code": "S01",
        "region_code": "R1",
        "person_key": person,
        "person_key_kind": "ID_NUMBER" if person else "NONE",
        "masked_name": "张*",
        "masked_phone": "138****5678",
        "age_band": "AGE_30_44",
        "resident_type": "LOCAL",
        "amount_at_risk_fen": 1000,
        "suspect_account_hash": None,
        "channel": None,
        "extras": {},
    }
    record.update(overrides)
    return record


def at(offset: int, partition: int = 0) -> Position:
    return Position(partition, offset)


def test_first_warning_opens_a_task_with_a_deterministic_id() -> None:
    state = PersonState()
    decision = on_alert(state, alert(1), at(0), CONFIG)
    assert decision.outcome is Outcome.NEW
    task = decision.emit
    assert task is not None
    assert task["task_id"] == task_id_for("p1", "JZZ:1") == decision.task_id
    assert (task["version"], task["status"], task["created_at"]) == (1, "OPEN", T0)
    assert (task["sources"], task["alert_keys"], task["person_flagged"]) == (["JZZ"], ["JZZ:1"], False)
    assert on_alert(PersonState(), alert(1), at(0), CONFIG).emit == task  # a replay from scratch is identical


def test_exact_duplicate_is_dropped_but_a_replayed_position_re_emits() -> None:
    state = PersonState()
    first = on_alert(state, alert(1), at(5), CONFIG)
    duplicate = on_alert(state, alert(1, minutes=3), at(9), CONFIG)
    assert (duplicate.outcome, duplicate.emit, duplicate.task_id) == (Outcome.DUPLICATE, None, first.task_id)
    replay = on_alert(state, alert(1), at(5), CONFIG)
    assert replay.outcome is Outcome.REPLAYED
    assert replay.emit == first.emit


def test_merge_adds_source_raises_level_keeps_max_amount_and_clock() -> None:
    state = PersonState()
    first = on_alert(state, alert(1, amount_at_risk_fen=5000), at(0), CONFIG)
    merged = on_alert(
        state,
        alert(
            2, minutes=20, source="MPS_FUND", alert_key="MPS_FUND:2", level="CRITICAL", amount_at_risk_fen=300
        ),
        at(1),
        CONFIG,
    )
    assert merged.outcome is Outcome.MERGED
    task = merged.emit
    assert task is not None
    assert first.emit is not None
    assert task["task_id"] == first.task_id
    assert task["version"] == 2
    assert task["level"] == "CRITICAL"
    assert task["sources"] == ["JZZ", "MPS_FUND"]
    assert task["alert_keys"] == ["JZZ:1", "MPS_FUND:2"]
    assert task["amount_at_risk_fen"] == 5000
    assert task["created_at"] == first.emit["created_at"]  # SLA clocks are never reset
    lower = on_alert(state, alert(3, minutes=30, level="LOW"), at(2), CONFIG).emit
    assert lower is not None
    assert lower["level"] == "CRITICAL"


def test_outside_the_merge_window_opens_a_new_task_and_windows_are_per_level() -> None:
    state = PersonState()
    first = on_alert(state, alert(1), at(0), CONFIG)
    second = on_alert(state, alert(2, minutes=24 * 60 + 1), at(1), CONFIG)
    assert second.outcome is Outcome.NEW
    assert second.task_id != first.task_id
    short = DedupConfig(merge_window_ms_by_level={"MEDIUM": HOUR_MS})
    state = PersonState()
    on_alert(state, alert(1), at(0), short)
    assert on_alert(state, alert(2, minutes=61), at(1), short).outcome is Outcome.NEW


def test_warning_without_a_person_is_flagged_and_never_merged() -> None:
    one, two = alert(1, person=None), alert(2, person=None)
    assert state_key(one) == "anon:JZZ:1" != state_key(two)
    state = PersonState()
    decision = on_alert(state, one, at(0), CONFIG)
    assert decision.emit is not None
    assert decision.emit["person_flagged"] is True
    assert on_alert(state, two, at(1), CONFIG).outcome is Outcome.NEW  # even in the same state


def test_prior_victim_raises_the_level_and_enriches() -> None:
    state = PersonState()
    record = {
        "case_id": "C1",
        "person_key": "p1",
        "relative_keys": ["r1"],
        "case_at": T0 - 100 * DAY_MS,
        "loss_fen": 250_000,
        "fraud_type": "ROMANCE",
        "station_code": None,
        "ingested_at": T0,
    }
    outputs = on_victim_record(state, record, CONFIG, T0)
    assert outputs.relation_facts == [relation_fact("r1", "p1", "C1")]
    assert outputs.victimisation_event is None  # never warned before
    on_relation_fact(state, relation_fact("p1", "r9", "C7"))
    on_relation_fact(state, relation_fact("p1", "r9", "C7"))  # idempotent
    on_alert(state, alert(0, minutes=-60 * 24 * 50, alert_key="NAC_APP:0"), at(0), CONFIG)
    state.open_task = None  # pretend it closed, so the next warning opens a task
    task = on_alert(state, alert(1, level="HIGH"), at(1), CONFIG).emit
    assert task is not None
    assert (task["level"], task["base_level"], task["level_raised_for_prior_victim"]) == (
        "CRITICAL",
        "HIGH",
        True,
    )
    assert task["prior_victim"] is True
    assert (task["prior_case_count"], task["prior_loss_total_fen"]) == (1, 250_000)
    assert task["last_case_at"] == T0 - 100 * DAY_MS
    assert (task["relatives_with_history"], task["prior_warnings_90d"]) == (1, 1)
    assert task["prior_fraud_types"] == ["ROMANCE"]


def test_the_same_victim_record_twice_counts_once() -> None:
    state = PersonState()
    record = {
        "case_id": "C1",
        "person_key": "p1",
        "relative_keys": [],
        "case_at": T0,
        "loss_fen": 5,
        "fraud_type": "OTHER",
        "station_code": None,
        "ingested_at": T0,
    }
    on_victim_record(state, record, CONFIG, T0)
    snapshot = PersonState.from_dict(state.to_dict()).to_dict()
    on_victim_record(state, record, CONFIG, T0)
    assert state.to_dict() == snapshot


def test_final_feedback_closes_and_the_next_warning_opens_a_new_task() -> None:
    state = PersonState()
    first = on_alert(state, alert(1), at(0), CONFIG)
    unreachable = {"kind": "FEEDBACK", "task_id": first.task_id, "outcome": "UNREACHABLE", "at": T0 + 60_000}
    assert on_task_fact(state, unreachable) is None  # still open: the station keeps trying
    assert on_alert(state, alert(2, minutes=2), at(1), CONFIG).outcome is Outcome.MERGED
    dissuaded = {"kind": "FEEDBACK", "task_id": first.task_id, "outcome": "DISSUADED", "at": T0 + 600_000}
    closed = on_task_fact(state, dissuaded)
    assert closed is not None
    assert (closed["status"], closed["closed_at"], closed["version"]) == ("CLOSED", T0 + 600_000, 3)
    assert on_task_fact(state, dissuaded) is None  # idempotent
    after = on_alert(state, alert(3, minutes=15), at(2), CONFIG)
    assert after.outcome is Outcome.NEW
    assert after.task_id != first.task_id


def test_refeedback_reopens_a_closed_task() -> None:
    state = PersonState()
    first = on_alert(state, alert(1), at(0), CONFIG)
    on_task_fact(state, {"kind": "CLOSED", "task_id": first.task_id, "outcome": None, "at": T0 + 1})
    reopened = on_task_fact(
        state, {"kind": "REFEEDBACK_REQUESTED", "task_id": first.task_id, "outcome": None, "at": T0 + 2}
    )
    assert reopened is not None
    assert reopened["status"] == "OPEN"
    assert reopened["closed_at"] is None
    assert on_alert(state, alert(2, minutes=5), at(1), CONFIG).outcome is Outcome.MERGED


def test_post_warning_victimisation_notes_dissuasion() -> None:
    state = PersonState()
    task_id = on_alert(state, alert(1), at(0), CONFIG).task_id
    on_task_fact(state, {"kind": "FEEDBACK", "task_id": task_id, "outcome": "DISSUADED", "at": T0 + 1})
    record = {
        "case_id": "C9",
        "person_key": "p1",
        "relative_keys": [],
        "case_at": T0 + 10 * DAY_MS,
        "loss_fen": 1,
        "fraud_type": "OTHER",
        "station_code": None,
        "ingested_at": T0,
    }
    event = on_victim_record(state, record, CONFIG, T0).victimisation_event
    assert event is not None
    assert (event["task_id"], event["type"], event["was_dissuaded"]) == (
        task_id,
        "VICTIMISED_AFTER_WARNING",
        True,
    )
    late = {**record, "case_id": "C10", "case_at": T0 + 31 * DAY_MS}
    assert on_victim_record(state, late, CONFIG, T0).victimisation_event is None


# --- Property: order within the window does not matter ----------------------------------------------

_ALERTS = st.lists(
    st.tuples(
        st.integers(0, 12),  # alert number (repeats are re-deliveries)
        st.integers(0, 23 * 60),  # minutes after T0, inside one 24 h window
        st.sampled_from(["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
        st.integers(0, 10**6),
    ),
    min_size=1,
    max_size=25,
)


def _run(batch: list[tuple[int, int, str, int]]) -> list[dict[str, Any]]:
    state = PersonState()
    tasks: dict[str, dict[str, Any]] = {}
    first_seen: dict[int, tuple[int, str, int]] = {}
    for offset, (n, minutes, level, amount) in enumerate(batch):
        # A re-delivery repeats the warning as first sent: same time, level and amount.
        minutes, level, amount = first_seen.setdefault(n, (minutes, level, amount))
        decision = on_alert(
            state, alert(n, minutes, level=level, amount_at_risk_fen=amount), at(offset), CONFIG
        )
        if decision.emit is not None:
            tasks[decision.task_id] = decision.emit
    return list(tasks.values())


def _order_free(task: dict[str, Any]) -> tuple[Any, ...]:
    return (task["alert_keys"], task["sources"], task["level"], task["amount_at_risk_fen"], task["version"])


@settings(max_examples=200, deadline=None)
@given(_ALERTS, st.randoms(use_true_random=False))
def test_any_order_within_the_window_gives_the_same_task(
    batch: list[tuple[int, int, str, int]], rnd: Any
) -> None:
    firsts: dict[int, tuple[int, int, str, int]] = {}
    batch = [firsts.setdefault(item[0], item) for item in batch]  # re-deliveries repeat the first copy
    shuffled = list(batch)
    rnd.shuffle(shuffled)
    original, reordered = _run(batch), _run(shuffled)
    assert len(original) == len(reordered) == 1
    assert _order_free(original[0]) == _order_free(reordered[0])


def _reference(batch: list[tuple[int, int, str, int]]) -> list[tuple[list[str], str, int]]:
    """A tiny model: distinct warnings grouped into windows opened by the first warning of each."""
    groups: list[dict[str, Any]] = []
    seen: set[int] = set()
    for n, minutes, level, amount in batch:
        if n in seen:
            continue
        seen.add(n)
        rank = ["LOW", "MEDIUM", "HIGH", "CRITICAL"].index
        if groups and abs(minutes - groups[-1]["start"]) <= 24 * 60:
            group = groups[-1]
            group["keys"].add(f"JZZ:{n}")
            group["level"] = max(group["level"], level, key=rank)
            group["amount"] = max(group["amount"], amount)
        else:
            groups.append({"start": minutes, "keys": {f"JZZ:{n}"}, "level": level, "amount": amount})
    return [(sorted(g["keys"]), g["level"], g["amount"]) for g in groups]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 30),
            st.integers(0, 6 * 24 * 60),
            st.sampled_from(["LOW", "MEDIUM", "HIGH", "CRITICAL"]),
            st.integers(0, 10**6),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_matches_the_reference_model_over_several_days(batch: list[tuple[int, int, str, int]]) -> None:
    firsts: dict[int, tuple[int, int, str, int]] = {}
    batch = [firsts.setdefault(item[0], item) for item in batch]  # re-deliveries repeat the first copy
    got = [(t["alert_keys"], t["level"], t["amount_at_risk_fen"]) for t in _run(batch)]
    assert got == _reference(batch)


# --- Verdicts (alerts.index) -----------------------------------------------------------------------


def test_every_delivery_gets_a_verdict_naming_its_task_outcome_and_position() -> None:
    state = PersonState()
    first = on_alert(state, alert(1), at(10, partition=2), CONFIG, decided_at=T0 + 5)
    merged = on_alert(state, alert(2, minutes=5), at(11, partition=2), CONFIG, decided_at=T0 + 6)
    again = on_alert(state, alert(1), at(12, partition=2), CONFIG, decided_at=T0 + 7)
    assert first.verdict == {
        "alert_key": "JZZ:1",
        "source": "JZZ",
        "source_alert_id": "1",
        "task_id": first.task_id,
        "outcome": "NEW",
        "decided_at": T0 + 5,
        "raw_partition": 2,
        "raw_offset": 10,
    }
    assert (merged.verdict["outcome"], merged.verdict["task_id"]) == ("MERGED", first.task_id)
    assert again.outcome is Outcome.DUPLICATE
    assert (again.verdict["outcome"], again.verdict["task_id"], again.verdict["raw_offset"]) == (
        "DUPLICATE",
        first.task_id,
        12,
    )


def test_a_replayed_delivery_repeats_its_first_verdict_exactly() -> None:
    state = PersonState()
    on_alert(state, alert(1), at(10), CONFIG, decided_at=T0 + 5)
    merged = on_alert(state, alert(2, minutes=5), at(11), CONFIG, decided_at=T0 + 6)
    replay = on_alert(state, alert(2, minutes=5), at(11), CONFIG, decided_at=T0 + 999)
    assert replay.outcome is Outcome.REPLAYED
    assert replay.verdict == merged.verdict


def test_a_duplicate_after_closure_stays_with_the_first_task_not_the_new_one() -> None:
    state = PersonState()
    first = on_alert(state, alert(1), at(0), CONFIG)
    closure = {"kind": "CLOSED", "person_key": "p1", "task_id": first.task_id, "at": T0 + 60_000}
    closure |= {"victim_key": None, "case_id": None, "outcome": None}
    on_task_fact(state, closure)
    second = on_alert(state, alert(2, minutes=10), at(1), CONFIG)
    assert second.outcome is Outcome.NEW
    assert second.task_id != first.task_id
    redelivered = on_alert(state, alert(1), at(2), CONFIG)
    assert redelivered.outcome is Outcome.DUPLICATE
    assert redelivered.verdict["task_id"] == first.task_id
