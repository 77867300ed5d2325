"""The SLA stage's per-task state: held events, lifecycle facts, checks and purging."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.clock import EventClock
from streams.logic.tasks import (
    MAX_HELD_EVENTS,
    MAX_REMEMBERED_INPUTS,
    Held,
    Outputs,
    StageConfig,
    TaskState,
    next_check_at,
    on_check,
    on_task,
    on_task_event,
    remember,
    replayed,
)
from tests.unit.logic.test_sla import MIN, POLICY, T0, event, task

CONFIG = StageConfig(unknown_task_grace_ms=5 * MIN, closed_retention_ms=60 * MIN)
CLOCK = EventClock(allowed_lateness_ms=0)


def held(kind: str, minutes: float, offset: int = 0, **extra: Any) -> Held:
    return Held({"task_id": "T1", **event(kind, minutes, **extra)}, "tasks.events", 2, offset)


def owned_task(level: str = "HIGH", **overrides: Any) -> dict[str, Any]:
    return task(level, person_key="p1", first_alert_key="JZZ:1", **overrides)


def test_events_before_their_task_are_held_then_applied_in_order() -> None:
    state = TaskState()
    assert on_task_event(state, held("RECEIVED", 1, 10), T0 + MIN, CLOCK, CONFIG).sla_events == []
    on_task_event(state, held("FEEDBACK", 2, 11, outcome="DISSUADED"), T0 + 2 * MIN, CLOCK, CONFIG)
    assert state.hold_until == T0 + 6 * MIN
    assert next_check_at(state) == T0 + 6 * MIN
    out = on_task(state, owned_task(), POLICY, T0 + 2 * MIN, CLOCK, CONFIG)
    assert [e["event_id"].split(":", 1)[1] for e in out.sla_events] == [
        "reception:1:MET",
        "dispatch:1:MET",
        "verification:1:MET",
        "feedback:1:MET",
    ]
    assert [(f["kind"], f["person_key"]) for f in out.person_facts] == [("FEEDBACK", "p1")]
    assert state.held == []
    assert state.hold_until is None


def test_an_unknown_task_is_dead_lettered_after_the_grace_period() -> None:
    state = TaskState()
    on_task_event(state, held("RECEIVED", 1, 10), T0 + MIN, CLOCK, CONFIG)
    assert on_check(state, T0 + 5 * MIN, CLOCK, CONFIG).rejected == []  # not yet
    out = on_check(state, T0 + 6 * MIN, CLOCK, CONFIG)
    assert [(r.reason, r.held.offset) for r in out.rejected] == [("unknown_task", 10)]
    assert "task T1 not seen within the 300 s grace period" in out.rejected[0].error
    # A tombstone stays one more grace period (so a restart can re-emit the dead letter), then goes.
    assert not out.purge
    assert next_check_at(state) == T0 + 11 * MIN
    assert on_check(state, T0 + 11 * MIN, CLOCK, CONFIG).purge


def test_an_input_processed_again_re_emits_what_it_emitted_the_first_time() -> None:
    state = TaskState()
    on_task(state, owned_task(), POLICY, T0, CLOCK, CONFIG)
    out = on_task_event(state, held("VERIFIED", 20), T0 + 20 * MIN, CLOCK, CONFIG)
    remember(state, "tasks.events:2:7", out)
    remember(state, "tasks.events:2:8", Outputs())  # nothing emitted: nothing remembered
    stored = TaskState.from_dict(state.to_dict())
    again = replayed(stored, "tasks.events:2:7")
    assert again is not None
    assert again.sla_events == out.sla_events
    assert replayed(stored, "tasks.events:2:8") is None
    for offset in range(100):
        remember(state, f"sla.ticks:2:{offset}", out)
    assert len(state.recent) == MAX_REMEMBERED_INPUTS
    assert replayed(state, "tasks.events:2:7") is None  # the oldest are forgotten


def test_held_events_are_bounded() -> None:
    state = TaskState()
    for offset in range(MAX_HELD_EVENTS):
        on_task_event(state, held("RECEIVED", 1, offset), T0, CLOCK, CONFIG)
    out = on_task_event(state, held("RECEIVED", 1, 999), T0, CLOCK, CONFIG)
    assert [r.reason for r in out.rejected] == ["too_many_held"]
    assert len(state.held) == MAX_HELD_EVENTS


def test_a_finished_task_is_purged_after_the_retention() -> None:
    state = TaskState()
    on_task(state, owned_task(), POLICY, T0, CLOCK, CONFIG)
    on_task_event(state, held("FEEDBACK", 3, outcome="DISSUADED"), T0 + 3 * MIN, CLOCK, CONFIG)
    assert state.purge_at == T0 + 63 * MIN
    assert next_check_at(state) == T0 + 63 * MIN
    assert not on_check(state, T0 + 62 * MIN, CLOCK, CONFIG).purge
    assert on_check(state, T0 + 63 * MIN, CLOCK, CONFIG).purge


def test_a_refeedback_request_reopens_the_feedback_clock_and_cancels_the_purge() -> None:
    state = TaskState()
    on_task(state, owned_task(), POLICY, T0, CLOCK, CONFIG)
    on_task_event(state, held("FEEDBACK", 3, outcome="DISSUADED"), T0 + 3 * MIN, CLOCK, CONFIG)
    out = on_task_event(state, held("REFEEDBACK_REQUESTED", 10), T0 + 10 * MIN, CLOCK, CONFIG)
    assert [f["kind"] for f in out.person_facts] == ["REFEEDBACK_REQUESTED"]
    assert state.purge_at is None
    assert next_check_at(state) == T0 + 10 * MIN + 3 * 60 * MIN + 1  # 50 % of HIGH's 6 h, +1 ms


def test_state_round_trips_through_its_table_value() -> None:
    state = TaskState()
    on_task_event(state, held("RECEIVED", 1, 10), T0 + MIN, CLOCK, CONFIG)
    assert TaskState.from_dict(state.to_dict()) == state
    on_task(state, owned_task(), POLICY, T0 + MIN, CLOCK, CONFIG)
    assert TaskState.from_dict(state.to_dict()) == state
    assert TaskState.from_dict(None) == TaskState()


# --- Property: in replay, an SLA event's content is a function of the inputs, not of tick timing -------

LEVELS = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
Input = tuple[str, str, int]  # ("version", level, minute) | ("event", type, minute)
INPUTS = st.lists(
    st.one_of(
        st.tuples(st.just("version"), st.sampled_from(LEVELS), st.integers(0, 600)),
        st.tuples(
            st.just("event"),
            st.sampled_from(
                ["RECEIVED", "DISPATCHED", "VERIFIED", "FEEDBACK", "REFEEDBACK_REQUESTED", "CLOSED"]
            ),
            st.integers(0, 600),
        ),
    ),
    max_size=10,
)


def _replay(level: str, inputs: list[Input], ticks: list[int], restarts: set[int]) -> dict[str, Any]:
    """Replay mode as the agent runs it: inputs in event-time order (versions first at equal times),
    each at its own time; a tick at stream time `minute` releases inputs up to it first, then checks.
    `restarts`: after these inputs the state goes through its table value (a worker restarting)."""
    state = TaskState()
    emitted = on_task(state, owned_task(level=level), POLICY, T0, CLOCK, CONFIG).sla_events
    pending, version = sorted(ticks), 1
    ordered = sorted(inputs, key=lambda item: (item[2], item[0] != "version"))
    for number, (what, value, minute) in enumerate(ordered):
        at = T0 + minute * MIN
        while pending and pending[0] < minute:
            emitted += on_check(state, T0 + pending.pop(0) * MIN, CLOCK, CONFIG).sla_events
        if what == "version":
            version += 1
            update = owned_task(level=value, version=version, updated_at=at)
            emitted += on_task(state, update, POLICY, at, CLOCK, CONFIG).sla_events
        else:
            extra = {"outcome": "DISSUADED"} if value == "FEEDBACK" else {}
            emitted += on_task_event(
                state, held(value, minute, number, **extra), at, CLOCK, CONFIG
            ).sla_events
        if number in restarts:
            state = TaskState.from_dict(state.to_dict())
    for minute in [*pending, 10**6]:  # the end of time: every open threshold has passed
        emitted += on_check(state, T0 + minute * MIN, CLOCK, CONFIG).sla_events
    by_id = {e["event_id"]: e for e in emitted}
    assert len(by_id) == len(emitted), "an event id was emitted twice"
    return by_id


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(LEVELS),
    INPUTS,
    st.lists(st.integers(0, 700), max_size=8),
    st.sets(st.integers(0, 10), max_size=3),
)
def test_replayed_sla_events_do_not_depend_on_tick_timing_or_restarts(
    level: str, inputs: list[Input], ticks: list[int], restarts: set[int]
) -> None:
    """Every field of every SLA event (level, due time, detection time...) is the same whether the
    timer's checks came between the inputs or not, and whether the worker restarted in between.

    A merge used to apply its stricter rule before firing the thresholds that had passed before it,
    so a threshold a tick caught before the merge and the same threshold fired by the merge had the
    same id and two contents."""
    assert _replay(level, inputs, ticks, restarts) == _replay(level, inputs, [], set())
