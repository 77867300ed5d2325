"""A guard for a race between faust-streaming's fetcher and aiokafka that silently dropped records.

Faust's fetcher asks its consumer thread for records of the partitions it currently consumes, passing
its own live `_active_partitions` set (faust 0.15.3, `Consumer._wait_next_records`). The thread's
aiokafka call (`Fetcher.fetched_records`) may wait up to a second for data, and reads that set again
each time data arrives. Meanwhile the main thread mutates it; at the end of changelog recovery it
pauses every changelog partition, which leaves the set **empty** until the stream partitions resume
after the tables' recovery callbacks. aiokafka reads an empty set as "every partition": it hands back
all the records it had prefetched for the paused stream partitions, faust discards them (their
partition is not active), and aiokafka's position has moved past them. The seek to committed offsets
that follows rewinds only partitions with a committed offset above zero, so a partition never
committed (a worker killed before its first commit) keeps the moved position and those records are
never delivered: the worker is "ready" and idle while its inputs have data (found with the resolver
stage in-process, whose table lengthens the window; see docs/architecture.md).

The guard hands the thread a snapshot of the set taken when the fetch is asked for, so an in-flight
fetch returns only partitions that were active then.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

GetMany = Callable[..., Awaitable[Any]]


def snapshot_active_partitions(getmany: GetMany) -> GetMany:
    """Wrap a faust consumer's `_getmany` so the fetch thread gets a copy of the active partitions."""

    async def _getmany(active_partitions: set[Any] | None, timeout: float) -> Any:
        frozen = None if active_partitions is None else set(active_partitions)
        return await getmany(active_partitions=frozen, timeout=timeout)

    return _getmany
