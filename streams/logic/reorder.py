"""Replay mode's reorder buffer: a partition's inputs applied in event-time order. Pure: no Kafka.

A partition's task versions and task events arrive on two topics that Faust reads side by side, so
an event can arrive before an earlier task version (a merge) on the other topic. In replay mode each
input waits here until the partition's stream time (`EventClock.now`, already held back by the
allowed lateness) reaches its event time, and inputs leave in event-time order (arrival order among
equal times). The agent acks an input's offset only once it has been applied, so a crash loses
nothing that was waiting.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(order=True)
class Waiting:
    """One input waiting for stream time to reach it."""

    at: int
    sequence: int
    item: Any = field(compare=False)


class ReorderBuffer:
    """Per-partition min-heaps of waiting inputs."""

    def __init__(self) -> None:
        self._heaps: dict[int, list[Waiting]] = {}
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return sum(len(heap) for heap in self._heaps.values())

    def push(self, partition: int, at: int, item: Any) -> None:
        """Hold an input until stream time reaches `at`."""
        heapq.heappush(self._heaps.setdefault(partition, []), Waiting(at, next(self._sequence), item))

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
