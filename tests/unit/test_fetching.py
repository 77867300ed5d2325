"""The fetch guard: the consumer thread fetches for the partitions active when it was asked."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from streams.app import create_app
from streams.fetching import snapshot_active_partitions
from streams.settings import Settings


def test_an_in_flight_fetch_keeps_the_partitions_it_was_asked_for() -> None:
    """Recovery pauses every changelog partition while a fetch is in flight, which left faust's live
    set empty; aiokafka reads an empty set as "all partitions" and drained the paused stream
    partitions' records, which faust then dropped. The thread must see the set as it was."""
    seen: list[set[str] | None] = []

    async def run() -> None:
        data_arrived = asyncio.Event()

        async def thread_fetch(active_partitions: set[str] | None, timeout: float) -> dict[str, Any]:
            await data_arrived.wait()  # aiokafka waits for data, then reads the set again
            seen.append(None if active_partitions is None else set(active_partitions))
            return {}

        active = {"sla_tasks-changelog:0", "sla_tasks-changelog:1"}
        fetch = asyncio.create_task(snapshot_active_partitions(thread_fetch)(active, timeout=1.0))
        await asyncio.sleep(0)
        active.clear()  # "Done reading from changelog topics": every changelog partition paused
        data_arrived.set()
        await fetch
        await snapshot_active_partitions(thread_fetch)(None, timeout=1.0)  # client-only: all, as before

    asyncio.run(run())
    assert seen == [{"sla_tasks-changelog:0", "sla_tasks-changelog:1"}, None]


def test_the_worker_consumer_fetches_through_the_guard(tmp_path: Path) -> None:
    pipeline = create_app(Settings(home=tmp_path, topic_prefix="unit."), store="memory://", http_api=False)
    assert "snapshot_active_partitions" in pipeline.app.consumer._getmany.__qualname__
