"""The SLA clock: one injectable object that says what time it is for a partition.

Live mode (`riskalert worker --clock live`, the default) is the wall clock: an SLA event is stamped
when it was found, so `overdue_by` shows the detection delay. Replay mode (`--clock event`)
is the partition's stream time: the latest event time seen on that partition minus an allowed lateness,
so a backfill of last month's data produces the breaches that happened then, not a flood of breaches
"now". All SLA logic takes its time from here; nothing else reads a clock.
"""

from __future__ import annotations

import time
from typing import Literal, Protocol

ClockMode = Literal["live", "event"]
# Before any event is seen on a partition its stream time is "the beginning": nothing is due.
NEVER = -(2**62)


class Clock(Protocol):
    """What the SLA stage asks of a clock."""

    mode: ClockMode

    def observe(self, partition: int, event_time_ms: int) -> None:
        """Note an event time seen on a partition (replay mode advances the partition's stream time)."""

    def now(self, partition: int) -> int:
        """The current time for a partition, in epoch ms."""

    def detected_at(self, true_since_ms: int, now_ms: int) -> int:
        """The detection time to stamp on something true since `true_since_ms`, found at `now_ms`."""


class LiveClock:
    """Wall-clock time."""

    mode: ClockMode = "live"

    def observe(self, partition: int, event_time_ms: int) -> None:
        """Live time does not depend on events."""

    def now(self, partition: int) -> int:
        """Wall-clock epoch ms."""
        return time.time_ns() // 1_000_000

    def detected_at(self, true_since_ms: int, now_ms: int) -> int:
        """When it was found."""
        return now_ms


class EventClock:
    """Stream time per partition, held back by an allowed lateness.

    An SLA event is stamped at the first instant it became true (a threshold + 1 ms, a completion's own
    time), so a replay gives the same SLA events whenever it runs and however often the worker restarts.
    """

    mode: ClockMode = "event"

    def __init__(self, allowed_lateness_ms: int) -> None:
        if allowed_lateness_ms < 0:
            raise ValueError(f"allowed lateness must be >= 0 ms, got {allowed_lateness_ms}")
        self.allowed_lateness_ms = allowed_lateness_ms
        self._latest: dict[int, int] = {}

    def observe(self, partition: int, event_time_ms: int) -> None:
        """Advance the partition's stream time; it never goes back."""
        if event_time_ms > self._latest.get(partition, NEVER):
            self._latest[partition] = event_time_ms

    def now(self, partition: int) -> int:
        """The partition's latest event time minus the allowed lateness (NEVER before any event)."""
        latest = self._latest.get(partition)
        return NEVER if latest is None else latest - self.allowed_lateness_ms

    def detected_at(self, true_since_ms: int, now_ms: int) -> int:
        """The first instant it was true."""
        return true_since_ms


def make_clock(mode: ClockMode, allowed_lateness_ms: int) -> Clock:
    """The clock for a worker's `--clock` mode."""
    return EventClock(allowed_lateness_ms) if mode == "event" else LiveClock()
