"""Resolving task events addressed by warning (alert_ref) to their task, without Kafka."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streams.logic import resolver
from streams.logic.event_ids import event_id
from streams.logic.resolver import RefOutputs, RefState, ResolverConfig
from streams.logic.tasks import Held

T0 = 1_790_000_000_000
CONFIG = ResolverConfig(grace_ms=60_000, retention_ms=30 * 24 * 3600 * 1000)
REF = {"source": "JZZ", "source_alert_id": "J-1"}


def by_ref(n: int, kind: str = "RECEIVED", ref: dict[str, str] = REF, **fields: Any) -> Held:
    event = {
        "event_id": event_id(f"{ref['source']}:{ref['source_alert_id']}", kind, T0 + n, ""),
        "task_id": "",
        "type": kind,
        "occurred_at": T0 + n,
        "ingested_at": T0 + n,
        "alert_ref": ref,
        **fields,
    }
    return Held(event, "tasks.events.by_ref", 0, n)


def verdict(task_id: str, outcome: str = "NEW", offset: int = 0) -> dict[str, Any]:
    return {
        "alert_key": "JZZ:J-1",
        "source": "JZZ",
        "source_alert_id": "J-1",
        "task_id": task_id,
        "outcome": outcome,
        "decided_at": T0,
        "raw_partition": 0,
        "raw_offset": offset,
    }


def test_a_known_ref_forwards_at_once_with_the_task_id_and_the_task_addressed_id() -> None:
    state = RefState()
    resolver.on_verdict(state, verdict("T1"), T0, CONFIG)
    out = resolver.on_event(state, by_ref(5, "VERIFIED", verify_method="PHONE"), T0, CONFIG)
    [forwarded] = out.forwarded
    assert forwarded["task_id"] == "T1"
    assert forwarded["alert_ref"] == REF
    # The same id ingest gives the same event addressed by task id.
    assert forwarded["event_id"] == event_id("T1", "VERIFIED", T0 + 5, "PHONE")
    assert state.held == []


def test_events_before_the_verdict_are_held_then_released_in_arrival_order() -> None:
    state = RefState()
    for n, kind in ((3, "VERIFIED"), (1, "RECEIVED"), (2, "DISPATCHED")):
        assert not resolver.on_event(state, by_ref(n, kind), T0 + n, CONFIG)
    assert state.hold_until == T0 + 3 + CONFIG.grace_ms  # from the first held event
    assert resolver.next_check_at(state) == state.hold_until
    out = resolver.on_verdict(state, verdict("T1"), T0 + 10, CONFIG)
    assert [e["type"] for e in out.forwarded] == ["VERIFIED", "RECEIVED", "DISPATCHED"]
    assert {e["task_id"] for e in out.forwarded} == {"T1"}
    assert out.released == 3
    assert (state.held, state.hold_until) == ([], None)


def test_the_same_position_is_held_once() -> None:
    state = RefState()
    resolver.on_event(state, by_ref(1), T0, CONFIG)
    resolver.on_event(state, by_ref(1), T0 + 5, CONFIG)  # processed again after a restart
    assert len(state.held) == 1


def test_an_unknown_ref_is_dead_lettered_after_the_grace_with_its_position() -> None:
    state = RefState()
    resolver.on_event(state, by_ref(1), T0, CONFIG)
    resolver.on_event(state, by_ref(2), T0 + 1, CONFIG)
    assert not resolver.on_check(state, T0 + CONFIG.grace_ms - 1, CONFIG)
    out = resolver.on_check(state, T0 + CONFIG.grace_ms, CONFIG)
    assert [(r.reason, r.held.offset) for r in out.rejected] == [
        ("unknown_alert_ref", 1),
        ("unknown_alert_ref", 2),
    ]
    assert "JZZ:J-1 not resolved within the 60 s grace period" in out.rejected[0].error
    # A tombstone stays one more grace period, then the entry is purged.
    assert state.held == []
    assert state.purge_at == T0 + 2 * CONFIG.grace_ms
    assert resolver.on_check(state, T0 + 2 * CONFIG.grace_ms, CONFIG).purge


def test_too_many_held_events_are_refused() -> None:
    state = RefState()
    for n in range(resolver.MAX_HELD_EVENTS):
        resolver.on_event(state, by_ref(n), T0, CONFIG)
    out = resolver.on_event(state, by_ref(10_000), T0, CONFIG)
    assert [r.reason for r in out.rejected] == ["too_many_held"]
    assert len(state.held) == resolver.MAX_HELD_EVENTS


def test_the_first_verdict_binds_and_a_later_one_never_repoints() -> None:
    state = RefState()
    resolver.on_verdict(state, verdict("T1", "NEW"), T0, CONFIG)
    duplicate = resolver.on_verdict(state, verdict("T1", "DUPLICATE", offset=9), T0 + 1, CONFIG)
    assert not duplicate.conflict
    assert not duplicate
    # Only a re-delivery older than the dedup stage's memory can name another task: the binding stays.
    other = resolver.on_verdict(state, verdict("T2", "NEW", offset=99), T0 + 2, CONFIG)
    assert other.conflict
    assert resolver.on_event(state, by_ref(1), T0 + 3, CONFIG).forwarded[0]["task_id"] == "T1"


def test_a_binding_is_purged_after_the_retention() -> None:
    state = RefState()
    resolver.on_verdict(state, verdict("T1"), T0, CONFIG)
    assert resolver.next_check_at(state) == T0 + CONFIG.retention_ms
    assert not resolver.on_check(state, T0 + CONFIG.retention_ms - 1, CONFIG).purge
    assert resolver.on_check(state, T0 + CONFIG.retention_ms, CONFIG).purge


def test_remembered_outputs_are_replayed_and_forgotten_once_committed() -> None:
    state = RefState()
    resolver.on_event(state, by_ref(1), T0, CONFIG)
    out = resolver.on_verdict(state, verdict("T1"), T0 + 1, CONFIG)
    resolver.remember(state, "alerts.index:0:7", out)
    again = resolver.replayed(RefState.from_dict(state.to_dict()), "alerts.index:0:7")
    assert again is not None
    assert again.to_dict() == out.to_dict()
    resolver.remember(
        state, "alerts.index:0:8", RefOutputs(), committed=lambda position: position.endswith(":7")
    )
    assert resolver.replayed(state, "alerts.index:0:7") is None


def test_the_state_round_trips_through_its_table_value() -> None:
    state = RefState()
    resolver.on_event(state, by_ref(1, "FEEDBACK", outcome="DISSUADED"), T0, CONFIG)
    assert RefState.from_dict(state.to_dict()) == state
    assert RefState.from_dict(None) == RefState()


ARRIVALS = st.lists(
    st.tuples(st.sampled_from(["event", "verdict", "check"]), st.integers(0, 3 * CONFIG.grace_ms)),
    max_size=30,
)


@given(ARRIVALS)
def test_every_event_is_forwarded_once_or_dead_lettered_once(arrivals: list[tuple[str, int]]) -> None:
    """Every event ends forwarded, dead-lettered or still held, exactly one of them; forwarded events keep
    their arrival order; after the first verdict nothing waits and nothing is dead-lettered; an event is
    dead-lettered only by a check at least a grace period after the hold it joined began."""
    state = RefState()
    forwarded: list[int] = []
    rejected: list[int] = []
    arrived_at: dict[int, int] = {}
    hold_started: dict[int, int] = {}
    first_verdict: int | None = None
    now = T0
    for n, (kind, step) in enumerate(arrivals):
        now += step
        if kind == "event":
            arrived_at[n] = now
            out = resolver.on_event(state, by_ref(n), now, CONFIG)
            if state.hold_until is not None:
                hold_started[n] = state.hold_until - CONFIG.grace_ms
        elif kind == "verdict":
            first_verdict = n if first_verdict is None else first_verdict
            out = resolver.on_verdict(state, verdict("T1"), now, CONFIG)
        else:
            out = resolver.on_check(state, now, CONFIG)
            for rejected_event in out.rejected:
                assert now >= hold_started[rejected_event.held.offset] + CONFIG.grace_ms
        assert all(e["task_id"] == "T1" for e in out.forwarded)
        forwarded += [int(e["occurred_at"]) - T0 for e in out.forwarded]
        rejected += [r.held.offset for r in out.rejected]
    events = sorted(arrived_at)
    pending = [held.offset for held in state.held]
    assert sorted(forwarded + rejected + pending) == events
    assert forwarded == sorted(forwarded)
    if first_verdict is not None:
        assert pending == []
        assert all(n < first_verdict for n in rejected)
        assert all(n in forwarded for n in events if n > first_verdict)
