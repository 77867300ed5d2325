"""The SLA clocks: wall time live, per-partition stream time held back by the slowest input in replay."""

from __future__ import annotations

import time

import pytest

from streams.clock import NEVER, EventClock, LiveClock, make_clock


class Wall:
    """A hand-cranked wall clock for the idleness rule."""

    def __init__(self) -> None:
        self.ms = 0

    def __call__(self) -> int:
        return self.ms


def test_live_clock_is_the_wall_clock_and_stamps_when_found() -> None:
    clock = LiveClock()
    before = time.time_ns() // 1_000_000
    assert before <= clock.now(3) <= time.time_ns() // 1_000_000
    assert clock.detected_at(100, 5_000) == 5_000


def test_event_clock_is_per_partition_minus_lateness_and_never_goes_back() -> None:
    clock = EventClock(allowed_lateness_ms=1_000)
    assert clock.now(0) == NEVER
    clock.observe(0, 10_000, "tasks")
    clock.observe(1, 50_000, "tasks")
    clock.observe(0, 4_000, "tasks")  # an older event does not move time back
    assert clock.now(0) == 9_000
    assert clock.now(1) == 49_000
    assert clock.detected_at(7_001, 123_456) == 7_001


def test_the_slower_input_holds_stream_time_until_it_goes_idle() -> None:
    wall = Wall()
    clock = EventClock(0, sources=("tasks", "tasks.events"), idle_ms=5_000, wall_ms=wall)
    clock.observe(0, 100_000, "tasks")
    assert clock.now(0) == NEVER  # tasks.events not heard from yet: it may hold older events
    clock.observe(0, 20_000, "tasks.events")
    assert clock.now(0) == 20_000  # the minimum of the inputs
    wall.ms = 4_000
    clock.observe(0, 30_000, "tasks.events")
    assert clock.now(0) == 30_000
    wall.ms = 9_500  # tasks silent for 9.5 s (idle), tasks.events for 5.5 s: both idle
    assert clock.now(0) == 100_000  # caught up: the latest event time counts
    clock.observe(0, 40_000, "tasks.events")  # tasks.events is active again but time never goes back
    assert clock.now(0) == 100_000


def test_an_input_that_never_delivers_stops_holding_after_the_idle_time() -> None:
    wall = Wall()
    clock = EventClock(0, sources=("tasks", "tasks.events"), idle_ms=5_000, wall_ms=wall)
    clock.observe(2, 70_000, "tasks")
    assert clock.now(2) == NEVER
    wall.ms = 5_000
    clock.observe(2, 80_000, "tasks")
    assert clock.now(2) == 80_000


def test_a_silent_input_with_records_left_to_read_keeps_holding_stream_time() -> None:
    """A worker busy with a restart's backlog (or paused) hears nothing from an input for seconds
    while the input still has records; silence alone must not let the other input run ahead."""
    wall = Wall()
    highwater = {("tasks", 0): 10, ("tasks.events", 0): 50}
    clock = EventClock(
        0,
        sources=("tasks", "tasks.events"),
        idle_ms=5_000,
        wall_ms=wall,
        unread=lambda partition, source, offset: offset + 1 < highwater[(source, partition)],
    )
    clock.observe(0, 20_000, "tasks", offset=3)
    clock.observe(0, 25_000, "tasks.events", offset=7)
    wall.ms = 9_000  # tasks silent for 9 s, but offsets 4..9 are still to be delivered
    clock.observe(0, 90_000, "tasks.events", offset=8)
    assert clock.now(0) == 20_000
    clock.observe(0, 60_000, "tasks", offset=9)  # the rest of tasks arrives: caught up
    wall.ms = 15_000
    clock.observe(0, 95_000, "tasks.events", offset=9)
    assert clock.now(0) == 95_000  # tasks silent and caught up: idle, as before


def test_make_clock_and_bad_lateness() -> None:
    assert make_clock("live", 0, (), 5_000).mode == "live"
    assert make_clock("event", 60_000, ("a",), 5_000).mode == "event"
    with pytest.raises(ValueError, match="allowed lateness must be >= 0 ms"):
        EventClock(-1)
