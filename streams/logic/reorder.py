"""Replay mode's reorder buffer: a partition's inputs applied in event-time order. Pure: no Kafka.

A partition's task versions and task events arrive on two topics that Faust reads side by side, so
an event can arrive before an earlier task version (a merge) on the other topic. In replay mode each
input waits here until the partition's stream time (`EventClock.now`, already held back by the
allowed lateness) reaches its event time, and inputs leave in event-time order. The agent acks an
input's offset only once it has been applied, so a crash loses nothing that was waiting.

Equal event times are ordered by a tie-break the caller derives from the input itself (the SLA stage:
task versions before task events, then by offset), never by arrival. Arrival order across two topics
is not deterministic: it depends on fetch timing, and after a restart the uncommitted inputs of both
topics are read again in another interleaving. A merge and an event at the same millisecond applied
in arrival order gave one SLA event two contents (the level and due time before or after the merge).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(order=True)
class Waiting:
    """One input waiting for stream time to reach it."""

    at: int
    tiebreak: tuple[int, ...]
    item: Any = field(compare=False)


class ReorderBuffer:
    """Per-partition min-heaps of waiting inputs."""

    def __init__(self) -> None:
        self._heaps: dict[int, list[Waiting]] = {}

    def __len__(self) -> int:
        return sum(len(heap) for heap in self._heaps.values())

    def push(self, partition: int, at: int, tiebreak: tuple[int, ...], item: Any) -> None:
        """Hold an input until stream time reaches `at`.

        Args:
            partition: the input's partition.
            at: its event time (epoch ms).
            tiebreak: orders inputs of equal `at`; it must come from the input (e.g. its kind and offset),
                so the order does not depend on when the input arrived.
            item: what `pop_ready` returns.
        """
        heapq.heappush(self._heaps.setdefault(partition, []), Waiting(at, tiebreak, item))

    def pop_ready(self, partition: int, now: int) -> list[Any]:
        """Remove and return, in event-time order, the partition's inputs at or before `now`."""
        heap = self._heaps.get(partition)
        ready = []
        while heap and heap[0].at <= now:
            ready.append(heapq.heappop(heap).item)
        return ready

    def earliest(self, partition: int) -> int | None:
        """The earliest waiting event time on a partition."""
        heap = self._heaps.get(partition)
        return heap[0].at if heap else None

    def drop(self, partitions: Iterable[int]) -> int:
        """Forget revoked partitions' inputs (they are unacked: their new owner reads them again)."""
        return sum(len(self._heaps.pop(partition, [])) for partition in partitions)
