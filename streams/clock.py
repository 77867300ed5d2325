"""The SLA clock: one injectable object that says what time it is for a partition.

Live mode (`riskalert worker --clock live`, the default) is the wall clock: an SLA event is stamped
when it was found, so `overdue_by` shows the detection delay. Replay mode (`--clock event`)
is the partition's stream time: the latest event time seen on that partition minus an allowed lateness,
so a backfill of last month's data produces the breaches that happened then, not a flood of breaches
"now". All SLA logic takes its time from here; nothing else reads a clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, Protocol

ClockMode = Literal["live", "event"]
# Before any event is seen on a partition its stream time is "the beginning": nothing is due.
NEVER = -(2**62)


class Clock(Protocol):
    """What the SLA stage asks of a clock."""

    mode: ClockMode

    def observe(
        self, partition: int, event_time_ms: int, source: str = "", offset: int | None = None
    ) -> None:
        """Note an event time an input (`source`, a topic) delivered on a partition, at `offset`."""

    def now(self, partition: int) -> int:
        """The current time for a partition, in epoch ms."""

    def detected_at(self, true_since_ms: int, now_ms: int) -> int:
        """The detection time to stamp on something true since `true_since_ms`, found at `now_ms`."""


class LiveClock:
    """Wall-clock time."""

    mode: ClockMode = "live"

    def observe(
        self, partition: int, event_time_ms: int, source: str = "", offset: int | None = None
    ) -> None:
        """Live time does not depend on events."""

    def now(self, partition: int) -> int:
        """Wall-clock epoch ms."""
        return time.time_ns() // 1_000_000

    def detected_at(self, true_since_ms: int, now_ms: int) -> int:
        """When it was found."""
        return now_ms


class EventClock:
    """Stream time per partition, held back by an allowed lateness.

    A partition's inputs (`tasks` and `tasks.events`) are separate topics that Faust reads side by side,
    so one may run ahead of the other in event time. Stream time is therefore the minimum of the
    inputs' latest event times, as in Flink and Kafka Streams; an input that delivered nothing for
    `idle_ms` of wall time (caught up, or empty) stops holding the others back, unless `unread` says the
    consumer knows of records on it past the last one delivered. Silence alone is wall-clock timing: a
    worker busy with a restart's backlog, or paused for seconds, would otherwise let one input run ahead
    of records the other still has to deliver, and apply inputs out of order.

    An SLA event is stamped at the first instant it became true (a threshold + 1 ms, a completion's own
    time), so a replay gives the same SLA events whenever it runs and however often the worker restarts.
    """

    mode: ClockMode = "event"

    def __init__(
        self,
        allowed_lateness_ms: int,
        sources: tuple[str, ...] = (),
        idle_ms: int = 5_000,
        wall_ms: Callable[[], int] = lambda: time.monotonic_ns() // 1_000_000,
        unread: Callable[[int, str, int], bool] = lambda partition, source, offset: False,
    ) -> None:
        if allowed_lateness_ms < 0:
            raise ValueError(f"allowed lateness must be >= 0 ms, got {allowed_lateness_ms}")
        self.allowed_lateness_ms = allowed_lateness_ms
        self.sources, self.idle_ms, self._wall_ms = sources, idle_ms, wall_ms
        # (partition, source, last delivered offset) -> whether records past it are known to exist.
        self.unread = unread
        self._offsets: dict[tuple[int, str], int] = {}
        self._latest: dict[tuple[int, str], int] = {}
        self._seen_at: dict[tuple[int, str], int] = {}
        self._first_seen_at: dict[int, int] = {}
        self._now: dict[int, int] = {}

    def observe(
        self, partition: int, event_time_ms: int, source: str = "", offset: int | None = None
    ) -> None:
        """Note an event time an input delivered on a partition (at `offset`, if known)."""
        key, wall = (partition, source), self._wall_ms()
        self._first_seen_at.setdefault(partition, wall)
        self._seen_at[key] = wall
        if offset is not None:
            self._offsets[key] = max(offset, self._offsets.get(key, offset))
        if event_time_ms > self._latest.get(key, NEVER):
            self._latest[key] = event_time_ms

    def now(self, partition: int) -> int:
        """Stream time minus the allowed lateness (NEVER before any event); it never goes back."""
        held = self._stream_time(partition)
        now = max(self._now.get(partition, NEVER), held - self.allowed_lateness_ms if held > NEVER else NEVER)
        self._now[partition] = now
        return now

    def detected_at(self, true_since_ms: int, now_ms: int) -> int:
        """The first instant it was true."""
        return true_since_ms

    def _stream_time(self, partition: int) -> int:
        wall = self._wall_ms()
        first = self._first_seen_at.get(partition)
        if first is None:
            return NEVER
        active: list[int] = []
        idle: list[int] = []
        for source in self.sources or tuple(s for p, s in self._latest if p == partition):
            key = (partition, source)
            if key not in self._latest:
                if wall - first < self.idle_ms:
                    return NEVER  # an input not heard from yet may still deliver older events
                continue
            recent = wall - self._seen_at[key] < self.idle_ms or self._unread(key)
            (active if recent else idle).append(self._latest[key])
        if active:
            return min(active)
        return max(idle, default=NEVER)

    def _unread(self, key: tuple[int, str]) -> bool:
        offset = self._offsets.get(key)
        return offset is not None and self.unread(key[0], key[1], offset)


def make_clock(mode: ClockMode, allowed_lateness_ms: int, sources: tuple[str, ...], idle_ms: int) -> Clock:
    """The clock for a worker's `--clock` mode; `sources` are the topics whose event times drive it."""
    return EventClock(allowed_lateness_ms, sources, idle_ms) if mode == "event" else LiveClock()
