"""The pager's per-task state: which alerts fire, when they resolve, and when the entry goes."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.pager import (
    AT_RISK,
    BREACH,
    FIRING,
    RESOLVED,
    SUPPRESSED,
    PagerConfig,
    PagerTask,
    on_sla_event,
    on_task,
    purge_at,
    task_key,
)
from tests.support import task_record

T0 = 1_700_000_000_000
MIN = 60_000
CONFIG = PagerConfig(resolved_retention_ms=60 * MIN, idle_retention_ms=24 * 60 * MIN)
TASK_ID = "T0123456789abcdef0123456"


def sla(
    kind: str, step: str = "RECEPTION", cycle: int = 1, level: str = "CRITICAL", **extra: Any
) -> dict[str, Any]:
    """An SlaEvent of TASK_ID."""
    return {
        "event_id": f"{TASK_ID}:{step.lower()}:{cycle}:{kind}",
        "task_id": TASK_ID,
        "step": step,
        "cycle": cycle,
        "kind": kind,
        "due_at": T0 + MIN,
        "detected_at": T0 + MIN + 200,
        "completed_at": None,
        "implied": False,
        "overdue_by_ms": 200,
        "level": level,
        "station_code": "330106-PCS-01",
        "region_code": "330106",
        "fraud_type": "FAKE_INVESTMENT",
        "sources": ["MPS_FUND", "JZZ"],
        **extra,
    }


def version(number: int, status: str = "OPEN", level: str = "CRITICAL") -> dict[str, Any]:
    return task_record(TASK_ID, T0, version=number, status=status, level=level, masked_name="张*")


def states(state: PagerTask) -> dict[str, str]:
    return {key: alert.state for key, alert in state.alerts.items()}


def test_a_breach_fires_once_however_often_it_arrives() -> None:
    state = PagerTask()
    on_task(state, version(1), T0)
    for n in range(3):
        on_sla_event(state, sla("BREACHED"), T0 + MIN + n, CONFIG)
    assert states(state) == {"breach:reception:1": FIRING}
    alert = state.alerts["breach:reception:1"]
    assert (alert.level, alert.station, alert.region, alert.starts_at) == (
        "CRITICAL",
        "330106-PCS-01",
        "330106",
        T0 + MIN + 200,
    )
    assert alert.changed_at == T0 + MIN  # the first arrival opened it


def test_late_completion_resolves_the_breach_and_a_resolved_alert_never_fires_again() -> None:
    state = PagerTask()
    on_task(state, version(1), T0)
    on_sla_event(state, sla("BREACHED"), T0 + MIN, CONFIG)
    on_sla_event(state, sla("MET_LATE"), T0 + 2 * MIN, CONFIG)
    assert states(state) == {"breach:reception:1": RESOLVED}
    assert state.alerts["breach:reception:1"].resolved_by == "MET_LATE"
    on_sla_event(state, sla("BREACHED"), T0 + 3 * MIN, CONFIG)  # a re-emission after a crash
    assert states(state) == {"breach:reception:1": RESOLVED}
    assert state.alerts["breach:reception:1"].changed_at == T0 + 2 * MIN


def test_at_risk_75_pages_critical_and_high_only_and_a_breach_replaces_it() -> None:
    for level, paged in (("CRITICAL", True), ("HIGH", True), ("MEDIUM", False), ("LOW", False)):
        state = PagerTask()
        on_sla_event(state, sla("AT_RISK_50", level=level), T0, CONFIG)
        on_sla_event(state, sla("AT_RISK_75", level=level), T0, CONFIG)
        assert states(state) == ({"at_risk:reception:1": FIRING} if paged else {}), level
    state = PagerTask()
    on_sla_event(state, sla("AT_RISK_75"), T0, CONFIG)
    on_sla_event(state, sla("BREACHED"), T0 + MIN, CONFIG)
    assert states(state) == {"at_risk:reception:1": RESOLVED, "breach:reception:1": FIRING}
    assert state.alerts["at_risk:reception:1"].resolved_by == "BREACHED"


def test_at_risk_levels_are_configurable() -> None:
    state = PagerTask()
    on_sla_event(
        state, sla("AT_RISK_75", level="MEDIUM"), T0, PagerConfig(at_risk_levels=frozenset({"MEDIUM"}))
    )
    on_sla_event(
        state, sla("AT_RISK_75", step="DISPATCH", level="HIGH"), T0, PagerConfig(at_risk_levels=frozenset())
    )
    assert states(state) == {"at_risk:reception:1": FIRING}


def test_completion_in_time_resolves_the_warning_and_nothing_fires_after_it() -> None:
    state = PagerTask()
    on_sla_event(state, sla("AT_RISK_75"), T0, CONFIG)
    on_sla_event(state, sla("MET", implied=True), T0 + 1, CONFIG)
    on_sla_event(state, sla("BREACHED"), T0 + 2, CONFIG)  # out of order: the step is done
    assert states(state) == {"at_risk:reception:1": RESOLVED}


def test_closing_the_task_resolves_all_its_alerts_and_later_events_do_not_page() -> None:
    state = PagerTask()
    on_task(state, version(1), T0)
    on_sla_event(state, sla("BREACHED"), T0 + MIN, CONFIG)
    on_sla_event(state, sla("AT_RISK_75", step="DISPATCH"), T0 + MIN, CONFIG)
    on_task(state, version(2, status="CLOSED"), T0 + 2 * MIN)
    assert states(state) == {"breach:reception:1": RESOLVED, "at_risk:dispatch:1": RESOLVED}
    assert {alert.resolved_by for alert in state.alerts.values()} == {"CLOSED"}
    # A breach the SLA stage found before the closure, read after it (the topics are read side by side).
    on_sla_event(state, sla("BREACHED", step="VERIFICATION"), T0 + 3 * MIN, CONFIG)
    assert state.alerts["breach:verification:1"].state == SUPPRESSED
    on_task(state, version(2, status="CLOSED"), T0 + 4 * MIN)  # re-delivered: nothing changes
    assert state.closed_seen_at == T0 + 2 * MIN


def test_a_reopened_task_fires_the_new_feedback_cycle_only() -> None:
    state = PagerTask()
    on_task(state, version(1), T0)
    on_task(state, version(2, status="CLOSED"), T0 + MIN)
    on_sla_event(state, sla("BREACHED", step="DISPATCH"), T0 + MIN, CONFIG)  # stale: before the closure
    on_sla_event(state, sla("BREACHED", step="FEEDBACK", cycle=2), T0 + 2 * MIN, CONFIG)  # reopen read late
    assert set(states(state).values()) == {SUPPRESSED}
    on_task(state, version(3), T0 + 3 * MIN)
    assert states(state) == {"breach:dispatch:1": SUPPRESSED, "breach:feedback:2": FIRING}
    on_task(state, version(4, status="CLOSED"), T0 + 4 * MIN)
    assert states(state) == {"breach:dispatch:1": SUPPRESSED, "breach:feedback:2": RESOLVED}


def test_a_level_raise_keeps_the_labels_of_an_open_alert() -> None:
    state = PagerTask()
    on_task(state, version(1, level="HIGH"), T0)
    on_sla_event(state, sla("BREACHED", level="HIGH"), T0 + MIN, CONFIG)
    on_task(state, version(2, level="CRITICAL"), T0 + 2 * MIN)
    on_sla_event(state, sla("BREACHED", level="CRITICAL"), T0 + 3 * MIN, CONFIG)
    assert [alert.level for alert in state.alerts.values()] == ["HIGH"]
    assert state.level == "CRITICAL"


def test_the_region_label_can_be_the_deployments() -> None:
    state = PagerTask()
    on_sla_event(state, sla("BREACHED"), T0, PagerConfig(region="330100"))
    assert state.alerts["breach:reception:1"].region == "330100"


def test_purge_times() -> None:
    state = PagerTask()
    on_sla_event(state, sla("MET"), T0, CONFIG)
    assert purge_at(state, CONFIG) == T0 + CONFIG.idle_retention_ms  # its task never arrived
    on_task(state, version(1), T0 + MIN)
    on_sla_event(state, sla("BREACHED", step="DISPATCH"), T0 + 2 * MIN, CONFIG)
    assert purge_at(state, CONFIG) is None  # firing: kept
    on_sla_event(state, sla("MET_LATE", step="DISPATCH"), T0 + 3 * MIN, CONFIG)
    assert purge_at(state, CONFIG) == T0 + 3 * MIN + CONFIG.idle_retention_ms  # open, idle
    on_task(state, version(2, status="CLOSED"), T0 + 4 * MIN)
    assert purge_at(state, CONFIG) == T0 + 4 * MIN + CONFIG.resolved_retention_ms


def test_the_state_round_trips_through_its_table_value() -> None:
    state = PagerTask()
    on_task(state, version(1), T0)
    on_sla_event(state, sla("AT_RISK_75"), T0, CONFIG)
    on_sla_event(state, sla("BREACHED"), T0 + MIN, CONFIG)
    assert PagerTask.from_dict(state.to_dict()) == state
    assert PagerTask.from_dict(None) == PagerTask()


def test_task_key_is_opaque_stable_and_distinct_per_task_step_and_cycle() -> None:
    key = task_key(TASK_ID, "reception", 1)
    assert key == task_key(TASK_ID, "reception", 1)
    assert len(key) == 16
    assert set(key) <= set("0123456789abcdef")
    assert TASK_ID not in key
    others = {
        task_key(TASK_ID, "dispatch", 1),
        task_key(TASK_ID, "reception", 2),
        task_key("T1", "reception", 1),
    }
    assert key not in others
    assert len(others) == 3


# ---- property: the firing set does not depend on the order SLA events arrive in ----------------------

STEPS = ("RECEPTION", "DISPATCH", "VERIFICATION", "FEEDBACK")
KINDS = ("AT_RISK_50", "AT_RISK_75", "BREACHED", "MET", "MET_LATE")


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[dict[str, Any]], bool]:
    """SLA events of one task (with duplicates), and whether the task is closed at the end."""
    events = []
    for step in STEPS:
        fired = draw(
            st.sampled_from(
                [[], ["AT_RISK_50"], ["AT_RISK_50", "AT_RISK_75"], ["AT_RISK_50", "AT_RISK_75", "BREACHED"]]
            )
        )
        done = draw(st.sampled_from([None, "MET", "MET_LATE"]))
        if done == "MET_LATE" and "BREACHED" not in fired:
            done = "MET"
        events += [sla(kind, step=step) for kind in fired + ([done] if done else [])]
    events += draw(st.lists(st.sampled_from(events), max_size=4)) if events else []
    return events, draw(st.booleans())


def reference(events: list[dict[str, Any]], closed: bool) -> dict[str, str]:
    """What fires: per step, a breach unless completed, else a 75 % warning unless completed."""
    if closed:
        return {}
    firing = {}
    for step in STEPS:
        kinds = {e["kind"] for e in events if e["step"] == step}
        if kinds & {"MET", "MET_LATE"}:
            continue
        if "BREACHED" in kinds:
            firing[f"breach:{step.lower()}:1"] = FIRING
        elif "AT_RISK_75" in kinds:
            firing[f"at_risk:{step.lower()}:1"] = FIRING
    return firing


@settings(max_examples=300, deadline=None)
@given(histories(), st.randoms(use_true_random=False), st.integers(min_value=0, max_value=40))
def test_the_firing_alerts_do_not_depend_on_arrival_order(
    history: tuple[list[dict[str, Any]], bool], rng: Any, close_at: int
) -> None:
    events, closed = history
    inputs: list[tuple[str, dict[str, Any]]] = [("sla", e) for e in events]
    rng.shuffle(inputs)
    inputs.insert(0, ("task", version(1)))
    if closed:
        inputs.insert(min(close_at, len(inputs)), ("task", version(2, status="CLOSED")))
    state = PagerTask()
    resolved: set[str] = set()
    for now, (what, record) in enumerate(inputs):
        if what == "task":
            on_task(state, record, T0 + now)
        else:
            on_sla_event(state, record, T0 + now, CONFIG)
        now_resolved = {key for key, alert in state.alerts.items() if alert.state == RESOLVED}
        assert resolved <= now_resolved  # a resolution is final
        resolved = now_resolved
    firing = {key: alert.state for key, alert in state.alerts.items() if alert.state == FIRING}
    assert firing == reference(events, closed)
    assert len(state.alerts) <= 2 * len(STEPS)  # one per kind and step, whatever the duplicates
    assert all(key.split(":")[0] in (BREACH, AT_RISK) for key in state.alerts)
