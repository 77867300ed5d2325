"""The SLA state machine against hand-computed cases and a small reference model."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.clock import EventClock, LiveClock
from streams.logic.sla import TaskSla, next_check_at, on_event, on_task_version, on_tick, start
from streams.logic.sla_policy import load_policy
from streams.settings import PROJECT_ROOT

LIVE = LiveClock()  # stamps detections with the `now` given, as the old signature did
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
    assert kinds(on_tick(sla, T0 + int(2.5 * MIN), LIVE)) == []  # at exactly 50 %: not yet (strictly after)
    assert kinds(on_tick(sla, T0 + 3 * MIN, LIVE)) == ["RECEPTION:1:AT_RISK_50"]
    met = on_event(sla, event("RECEIVED", 4), T0 + 4 * MIN, LIVE)
    assert kinds(met) == ["RECEPTION:1:AT_RISK_75", "RECEPTION:1:MET"]  # 75 % (3m45s) passed before 4m
    assert kinds(on_tick(sla, T0 + 11 * MIN, LIVE)) == [
        "DISPATCH:1:AT_RISK_50",
        "DISPATCH:1:AT_RISK_75",
        "DISPATCH:1:BREACHED",
    ]
    late = on_event(sla, event("DISPATCHED", 12), T0 + 12 * MIN, LIVE)
    assert kinds(late) == ["DISPATCH:1:MET_LATE"]
    assert late[0]["overdue_by_ms"] == 2 * MIN
    assert late[0]["event_id"] == "T1:dispatch:1:MET_LATE"
    assert on_event(sla, event("DISPATCHED", 13), T0 + 13 * MIN, LIVE) == []  # only the first counts


def test_verification_implies_the_earlier_steps() -> None:
    sla = start(task("HIGH"), POLICY)
    events = on_event(sla, event("VERIFIED", 7, verify_method="FACE_TO_FACE"), T0 + 7 * MIN, LIVE)
    # Thresholds passed before 7 min fire first, even though no tick saw them.
    assert kinds(events) == [
        "RECEPTION:1:AT_RISK_50",
        "RECEPTION:1:AT_RISK_75",
        "RECEPTION:1:BREACHED",
        "DISPATCH:1:AT_RISK_50",
        "RECEPTION:1:MET_LATE",
        "DISPATCH:1:MET",
        "VERIFICATION:1:MET",
    ]
    completions = events[4:]
    assert [e["implied"] for e in completions] == [True, True, False]
    assert completions[0]["overdue_by_ms"] == 2 * MIN


def test_refeedback_opens_a_new_cycle_with_its_own_due_time() -> None:
    sla = start(task("CRITICAL"), POLICY)  # feedback due 2 h
    first = kinds(on_event(sla, event("FEEDBACK", 30, outcome="UNREACHABLE"), T0, LIVE))
    assert [k for k in first if "AT_RISK" in k or "BREACHED" in k] == [
        f"{step}:1:{kind}"
        for step in ("RECEPTION", "DISPATCH", "VERIFICATION")
        for kind in ("AT_RISK_50", "AT_RISK_75", "BREACHED")
    ]
    assert [k for k in first if "MET" in k] == [
        "RECEPTION:1:MET_LATE",
        "DISPATCH:1:MET_LATE",
        "VERIFICATION:1:MET_LATE",
        "FEEDBACK:1:MET",
    ]
    on_event(sla, event("REFEEDBACK_REQUESTED", 60), T0 + 60 * MIN, LIVE)
    assert sla.feedback[-1].due_at == T0 + 180 * MIN
    assert kinds(on_tick(sla, T0 + 181 * MIN, LIVE)) == [
        "FEEDBACK:2:AT_RISK_50",
        "FEEDBACK:2:AT_RISK_75",
        "FEEDBACK:2:BREACHED",
    ]
    assert kinds(on_event(sla, event("FEEDBACK", 200, outcome="DISSUADED"), T0 + 200 * MIN, LIVE)) == [
        "FEEDBACK:2:MET_LATE"
    ]


def test_a_merge_that_raises_the_level_shortens_but_never_extends() -> None:
    sla = start(task("MEDIUM"), POLICY)  # reception 15m, dispatch 30m
    on_event(sla, event("RECEIVED", 2), T0 + 2 * MIN, LIVE)
    on_task_version(sla, task("CRITICAL", version=2), POLICY)  # dispatch now 3m from creation
    assert sla.steps["dispatch"].due_at == T0 + 3 * MIN
    assert sla.steps["reception"].due_at == T0 + 15 * MIN  # completed: untouched
    on_task_version(sla, task("LOW", version=3), POLICY)  # a laxer rule never extends
    assert sla.steps["dispatch"].due_at == T0 + 3 * MIN
    assert kinds(on_tick(sla, T0 + 4 * MIN, LIVE)) == [
        "DISPATCH:1:AT_RISK_50",
        "DISPATCH:1:AT_RISK_75",
        "DISPATCH:1:BREACHED",
    ]


def test_closed_tasks_stop_their_timers_and_state_round_trips() -> None:
    sla = start(task("LOW"), POLICY)
    assert next_check_at(sla) == T0 + 30 * MIN + 1
    on_event(sla, event("CLOSED", 5), T0 + 5 * MIN, LIVE)
    assert on_tick(sla, T0 + 10**9, LIVE) == []
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
            on_event(sla, {"type": kind, "occurred_at": at}, at, LIVE)
            if what == "event"
            else on_tick(sla, at, LIVE)
        )
    got = kinds(emitted)
    assert len(got) == len(set(got)), "an event id was emitted twice"
    completions: dict[int, int] = {}
    for index, second in raw:
        completions[index] = min(completions.get(index, 10**12), second * 1000)
    assert set(got) == _reference(completions, allowances)


def test_event_clock_stamps_the_moment_things_became_true() -> None:
    # Replay: whenever the check runs, a crossing is stamped threshold + 1 ms and a completion at its time,
    # so a backfill gives byte-identical SLA events however the worker was restarted.
    sla = start(task("HIGH"), POLICY)
    replay = EventClock(allowed_lateness_ms=0)
    breached = on_tick(sla, T0 + 60 * MIN, replay)
    reception = [e for e in breached if e["step"] == "RECEPTION"]
    assert [(e["kind"], e["detected_at"] - T0) for e in reception] == [
        ("AT_RISK_50", int(2.5 * MIN) + 1),
        ("AT_RISK_75", int(3.75 * MIN) + 1),
        ("BREACHED", 5 * MIN + 1),
    ]
    assert reception[-1]["overdue_by_ms"] == 1
    late = on_event(sla, event("RECEIVED", 61), T0 + 10**9, replay)
    assert [(e["kind"], e["detected_at"], e["overdue_by_ms"]) for e in late] == [
        ("MET_LATE", T0 + 61 * MIN, 56 * MIN)
    ]


def test_a_stale_closure_does_not_undo_a_later_refeedback() -> None:
    sla = start(task("CRITICAL"), POLICY)
    on_event(sla, event("FEEDBACK", 30, outcome="DISSUADED"), T0 + 30 * MIN, LIVE)
    on_event(sla, event("REFEEDBACK_REQUESTED", 60), T0 + 60 * MIN, LIVE)
    # The dedup stage's CLOSED version (closed at the first feedback) arrives after the request.
    on_task_version(sla, task("CRITICAL", version=2, status="CLOSED", closed_at=T0 + 30 * MIN), POLICY)
    assert sla.closed_at is None
    assert kinds(on_tick(sla, T0 + 181 * MIN, LIVE))[-1] == "FEEDBACK:2:BREACHED"
    # A closure after the request does close the clocks.
    on_task_version(sla, task("CRITICAL", version=3, status="CLOSED", closed_at=T0 + 200 * MIN), POLICY)
    assert sla.closed_at == T0 + 200 * MIN


# --- Property: arbitrary arrival order, duplicates, merges and re-feedback cycles ---------------------

Arrival = tuple[str, str, int]  # ("event", type, minute) | ("tick", "", minute) | ("merge", level, 0)
FRACTIONS = (("AT_RISK_50", 0.5), ("AT_RISK_75", 0.75))
ORDERED = ("reception", "dispatch", "verification", "feedback")
COMPLETING = {"RECEIVED": 0, "DISPATCHED": 1, "VERIFIED": 2, "FEEDBACK": 3}


def _allowance(level: str, step: str) -> int:
    return POLICY.rule_for({"level": level, "sources": [], "fraud_type": "OTHER"}).due_ms[step]


def _times(arrivals: list[Arrival]) -> list[int]:
    # The time each arrival proves: an event's occurred_at, a tick's now; a merge proves nothing.
    return [T0 + minute * MIN if what != "merge" else -(2**62) for what, _, minute in arrivals]


def _clock_reference(
    name: str, cycle: int, start: int, opened: int, allowances: list[int], arrivals: list[Arrival]
) -> set[str]:
    """One clock, declaratively: which arrival completes it, and which thresholds some arrival passed.

    `allowances[i]` is the step's allowance in force at arrival i (the minimum over the levels seen so
    far: merges shorten, never extend). A threshold fires iff an arrival from the clock's opening up to
    and including the one that completes it proves a time strictly after the threshold.
    """
    times = _times(arrivals)
    index = ORDERED.index(name)
    completing = [
        i
        for i in range(opened, len(arrivals))
        if arrivals[i][0] == "event"
        and arrivals[i][1] in COMPLETING
        and (COMPLETING[arrivals[i][1]] >= index if index < 3 else arrivals[i][1] == "FEEDBACK")
    ]
    done = completing[0] if completing else None
    last = done if done is not None else len(arrivals) - 1
    label = f"{name.upper()}:{cycle}"
    expected = set()
    for kind, fraction in (*FRACTIONS, ("BREACHED", 1.0)):
        if any(times[i] > start + int(allowances[i] * fraction) for i in range(opened, last + 1)):
            expected.add(f"{label}:{kind}")
    if done is not None:
        met = times[done] <= start + allowances[done]
        expected.add(f"{label}:{'MET' if met else 'MET_LATE'}")
    return expected


def _arrival_reference(level: str, arrivals: list[Arrival]) -> set[str]:
    """The SLA events a task must produce, computed clock by clock without a state machine."""
    levels, current = [], level
    for what, value, _ in arrivals:
        current = value if what == "merge" and value else current
        levels.append(current)

    def allowances(step: str) -> list[int]:
        running, out = _allowance(level, step), []
        for at_level in levels:
            running = min(running, _allowance(at_level, step))
            out.append(running)
        return out

    expected: set[str] = set()
    for step in ORDERED[:3]:
        expected |= _clock_reference(step, 1, T0, 0, allowances(step), arrivals)
    # Feedback cycles: a re-feedback request opens a new cycle only once the current one is complete.
    times, feedback = _times(arrivals), allowances("feedback")
    starts = [(T0, 0)]
    for i, (what, kind, _) in enumerate(arrivals):
        if what == "event" and kind == "REFEEDBACK_REQUESTED":
            start, opened = starts[-1]
            completed = any(
                arrivals[j][0] == "event" and arrivals[j][1] == "FEEDBACK" for j in range(opened, i)
            )
            # A repeat of the request that opened the current cycle (not later than it) opens nothing.
            if completed and (len(starts) == 1 or times[i] > start):
                starts.append((times[i], i + 1))
    for cycle, (start, opened) in enumerate(starts, 1):
        # A new cycle's allowance is the feedback allowance when it opened, shortened by later merges.
        relative = [feedback[max(i, opened - 1)] for i in range(len(arrivals))]
        expected |= _clock_reference("feedback", cycle, start, opened, relative, arrivals)
    return expected


ARRIVALS = st.lists(
    st.one_of(
        st.tuples(
            st.just("event"),
            st.sampled_from([*COMPLETING, "REFEEDBACK_REQUESTED"]),
            st.integers(0, 600),
        ),
        st.tuples(st.just("tick"), st.just(""), st.integers(0, 600)),
        st.tuples(st.just("merge"), st.sampled_from(["CRITICAL", "HIGH", "MEDIUM", "LOW"]), st.just(0)),
    ),
    max_size=14,
)


@settings(max_examples=400, deadline=None)
@given(ARRIVALS, st.sampled_from(["CRITICAL", "HIGH", "MEDIUM", "LOW"]), st.data())
def test_any_arrival_order_matches_the_declarative_reference(
    arrivals: list[Arrival], level: str, data: st.DataObject
) -> None:
    # Duplicates: re-deliver some arrivals later in the stream.
    for arrival in data.draw(st.lists(st.sampled_from(arrivals), max_size=3) if arrivals else st.just([])):
        arrivals.insert(data.draw(st.integers(0, len(arrivals))), arrival)
    arrivals.append(("tick", "", 10**6))  # the end of time: every open threshold has passed
    sla = start(task(level), POLICY)
    emitted: list[dict[str, Any]] = []
    version = 1
    for what, value, minute in arrivals:
        at = T0 + minute * MIN
        if what == "event":
            emitted += on_event(sla, {"type": value, "occurred_at": at}, at, LIVE)
        elif what == "tick":
            emitted += on_tick(sla, at, LIVE)
        else:
            version += 1
            on_task_version(sla, task(value, version=version), POLICY)
    got = kinds(emitted)
    assert len(got) == len(set(got)), "an event id was emitted twice"
    assert set(got) == _arrival_reference(level, arrivals)
