"""The SLA state machine against hand-computed cases and a small reference model."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.sla import TaskSla, next_check_at, on_event, on_task_version, on_tick, start
from streams.logic.sla_policy import load_policy
from streams.settings import PROJECT_ROOT

POLICY = load_policy(PROJECT_ROOT / "deploy" / "config" / "sla.yaml")
T0 = 1_790_000_000_000
MIN = 60_000


def task(level: str = "HIGH", version: int = 1, **overrides: Any) -> dict[str, Any]:
    return {
        "task_id": "T1",
        "version": version,
        "created_at": T0,
        "updated_at": T0,
        "level": level,
        "station_code": "S01",
        "region_code": "R1",
        "fraud_type": "FAKE_LOAN",
        "sources": ["JZZ"],
        "status": "OPEN",
        "closed_at": None,
        **overrides,
    }


def event(kind: str, minutes: float, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "occurred_at": T0 + int(minutes * MIN), **extra}


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [f"{e['step']}:{e['cycle']}:{e['kind']}" for e in events]


def test_high_task_timeline() -> None:
    sla = start(task("HIGH"), POLICY)  # reception 5m, dispatch 10m, verification 30m, feedback 6h
    assert kinds(on_tick(sla, T0 + int(2.5 * MIN))) == []  # at exactly 50 %: not yet (strictly after)
    assert kinds(on_tick(sla, T0 + 3 * MIN)) == ["RECEPTION:1:AT_RISK_50"]
    met = on_event(sla, event("RECEIVED", 4), T0 + 4 * MIN)
    assert kinds(met) == ["RECEPTION:1:MET"]
    assert kinds(on_tick(sla, T0 + 11 * MIN)) == [
        "DISPATCH:1:AT_RISK_50",
        "DISPATCH:1:AT_RISK_75",
        "DISPATCH:1:BREACHED",
    ]
    late = on_event(sla, event("DISPATCHED", 12), T0 + 12 * MIN)
    assert kinds(late) == ["DISPATCH:1:MET_LATE"]
    assert late[0]["overdue_by_ms"] == 2 * MIN
    assert late[0]["event_id"] == "T1:dispatch:1:MET_LATE"
    assert on_event(sla, event("DISPATCHED", 13), T0 + 13 * MIN) == []  # only the first counts


def test_verification_implies_the_earlier_steps() -> None:
    sla = start(task("HIGH"), POLICY)
    events = on_event(sla, event("VERIFIED", 7, verify_method="FACE_TO_FACE"), T0 + 7 * MIN)
    assert kinds(events) == ["RECEPTION:1:MET_LATE", "DISPATCH:1:MET", "VERIFICATION:1:MET"]
    assert [e["implied"] for e in events] == [True, True, False]
    assert events[0]["overdue_by_ms"] == 2 * MIN


def test_refeedback_opens_a_new_cycle_with_its_own_due_time() -> None:
    sla = start(task("CRITICAL"), POLICY)  # feedback due 2 h
    assert kinds(on_event(sla, event("FEEDBACK", 30, outcome="UNREACHABLE"), T0)) == [
        "RECEPTION:1:MET_LATE",
        "DISPATCH:1:MET_LATE",
        "VERIFICATION:1:MET_LATE",
        "FEEDBACK:1:MET",
    ]
    on_event(sla, event("REFEEDBACK_REQUESTED", 60), T0 + 60 * MIN)
    assert sla.feedback[-1].due_at == T0 + 180 * MIN
    assert kinds(on_tick(sla, T0 + 181 * MIN)) == [
        "FEEDBACK:2:AT_RISK_50",
        "FEEDBACK:2:AT_RISK_75",
        "FEEDBACK:2:BREACHED",
    ]
    assert kinds(on_event(sla, event("FEEDBACK", 200, outcome="DISSUADED"), T0 + 200 * MIN)) == [
        "FEEDBACK:2:MET_LATE"
    ]


def test_a_merge_that_raises_the_level_shortens_but_never_extends() -> None:
    sla = start(task("MEDIUM"), POLICY)  # reception 15m, dispatch 30m
    on_event(sla, event("RECEIVED", 2), T0 + 2 * MIN)
    on_task_version(sla, task("CRITICAL", version=2), POLICY)  # dispatch now 3m from creation
    assert sla.steps["dispatch"].due_at == T0 + 3 * MIN
    assert sla.steps["reception"].due_at == T0 + 15 * MIN  # completed: untouched
    on_task_version(sla, task("LOW", version=3), POLICY)  # a laxer rule never extends
    assert sla.steps["dispatch"].due_at == T0 + 3 * MIN
    assert kinds(on_tick(sla, T0 + 4 * MIN)) == [
        "DISPATCH:1:AT_RISK_50",
        "DISPATCH:1:AT_RISK_75",
        "DISPATCH:1:BREACHED",
    ]


def test_closed_tasks_stop_their_timers_and_state_round_trips() -> None:
    sla = start(task("LOW"), POLICY)
    assert next_check_at(sla) == T0 + 30 * MIN + 1
    on_event(sla, event("CLOSED", 5), T0 + 5 * MIN)
    assert on_tick(sla, T0 + 10**9) == []
    assert next_check_at(sla) is None
    assert TaskSla.from_dict(sla.to_dict()) == sla


# --- Property: the state machine matches a reference for any event order, duplicates included -----

STEP_EVENTS = ["RECEIVED", "DISPATCHED", "VERIFIED", "FEEDBACK"]


def _reference(completions: dict[int, int], allowances: list[int]) -> set[str]:
    """Expected events when ticks run continuously: a threshold fires iff it passed before completion."""
    expected = set()
    first = {}
    for index in range(4):  # a step completes at the first event of it or of any later step
        times = [t for i, t in completions.items() if i >= index]
        if times:
            first[index] = min(times)
    for index, allowance in enumerate(allowances):
        name = ["RECEPTION", "DISPATCH", "VERIFICATION", "FEEDBACK"][index]
        done = first.get(index)
        for kind, at in (
            ("AT_RISK_50", allowance // 2),
            ("AT_RISK_75", allowance * 3 // 4),
            ("BREACHED", allowance),
        ):
            if done is None or done > at:
                expected.add(f"{name}:1:{kind}")
        if done is not None:
            expected.add(f"{name}:1:{'MET' if done <= allowance else 'MET_LATE'}")
    return expected


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(range(4)), st.integers(0, 400)), max_size=8),
    st.sampled_from(["CRITICAL", "HIGH", "MEDIUM", "LOW"]),
)
def test_matches_the_reference(raw: list[tuple[int, int]], level: str) -> None:
    sla = start(task(level), POLICY)
    allowances = [sla.steps[s].due_at - T0 for s in ("reception", "dispatch", "verification")]
    allowances.append(sla.feedback[0].due_at - T0)
    # Events at whole seconds, processed in time order with ticks just after every threshold.
    timeline = [(T0 + second * 1000, "event", STEP_EVENTS[index]) for index, second in raw]
    timeline += [(T0 + at + 1, "tick", "") for a in allowances for at in (a // 2, a * 3 // 4, a)]
    timeline.append((T0 + 10**10, "tick", ""))
    emitted = []
    for at, what, kind in sorted(timeline):
        emitted += (
            on_event(sla, {"type": kind, "occurred_at": at}, at) if what == "event" else on_tick(sla, at)
        )
    got = kinds(emitted)
    assert len(got) == len(set(got)), "an event id was emitted twice"
    completions: dict[int, int] = {}
    for index, second in raw:
        completions[index] = min(completions.get(index, 10**12), second * 1000)
    assert set(got) == _reference(completions, allowances)
