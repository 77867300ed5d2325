"""The SLA timer's in-memory index of when each task next needs a check. Pure: no Kafka.

The index is a cache of the SLA table: the agent updates it whenever it writes a task's state, and it
is rebuilt from the table (active partitions only) after every rebalance. The timer only reads it: it
pops what is due and sends check commands; it never writes the table. A popped task leaves the index
until the agent reschedules it, so one due time gives one check command; a lost command is recovered
by the rebuild after a restart.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable


class DeadlineIndex:
    """Per-partition min-heaps of (check_at, task_id), with stale entries skipped lazily."""

    def __init__(self, partition_of: Callable[[str], int]) -> None:
        self._partition_of = partition_of
        self._heaps: dict[int, list[tuple[int, str]]] = {}
        self._check_at: dict[str, int] = {}
        self._entries = 0  # heap entries, stale ones included

    def __len__(self) -> int:
        return len(self._check_at)

    def schedule(self, task_id: str, check_at: int | None) -> None:
        """Set (or clear, with None) when the task next needs a check."""
        if check_at is None:
            self._check_at.pop(task_id, None)
            return
        if self._check_at.get(task_id) == check_at:
            return
        self._check_at[task_id] = check_at
        heap = self._heaps.setdefault(self._partition_of(task_id), [])
        heapq.heappush(heap, (check_at, task_id))
        self._entries += 1
        if self._entries > 2 * len(self._check_at) + 10_000:
            self._compact()

    def pop_due(self, partition: int, now: int) -> list[tuple[str, int]]:
        """Remove and return (task_id, check_at) of the partition's tasks due at `now`, earliest first."""
        heap = self._heaps.get(partition)
        due: list[tuple[str, int]] = []
        while heap and heap[0][0] <= now:
            check_at, task_id = heapq.heappop(heap)
            self._entries -= 1
            if self._check_at.get(task_id) == check_at:  # else stale: rescheduled or cleared since
                del self._check_at[task_id]
                due.append((task_id, check_at))
        return due

    def replace_all(self, entries: Iterable[tuple[str, int | None]]) -> None:
        """Rebuild from (task_id, check_at) pairs, e.g. the table's active partitions after a rebalance."""
        self._heaps.clear()
        self._check_at.clear()
        self._entries = 0
        for task_id, check_at in entries:
            self.schedule(task_id, check_at)

    def _compact(self) -> None:
        """Drop stale entries (a task rescheduled often leaves its old times in the heap)."""
        live = list(self._check_at.items())
        self._heaps.clear()
        for task_id, check_at in live:
            self._heaps.setdefault(self._partition_of(task_id), []).append((check_at, task_id))
        for heap in self._heaps.values():
            heapq.heapify(heap)
        self._entries = len(live)
