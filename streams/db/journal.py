"""The sink's batch journal (`sink_batches`, migration 003): each batch's range, written before its insert.

See `streams.logic.batches` for why a replay must cut its batches where the original run did.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.db.errors import ClickHouseError
from streams.logic.batches import Batch, Span

JOURNAL = "sink_batches"
JOURNAL_COLUMNS = ("topic", "partition", "first_offset", "last_offset", "rows", "planned_at")

_PLANNED = """
SELECT first_offset, last_offset
FROM sink_batches FINAL
WHERE topic = {topic:String} AND partition = {partition:UInt32} AND last_offset >= {offset:UInt64}
ORDER BY first_offset
"""


# On a cluster, return only when every shard stored the range.
_SYNC = {"insert_distributed_sync": 1}


def planned_spans(client: Client, topic: str, partition: int, from_offset: int) -> list[Span]:
    """The ranges journaled for a partition that end at or after `from_offset`, in offset order.

    Raises:
        ClickHouseError: the journal cannot be read (naming the partition).
    """
    parameters = {"topic": topic, "partition": partition, "offset": from_offset}
    try:
        result = client.query(_PLANNED, parameters=parameters)
    except Exception as exc:  # clickhouse-connect raises several kinds; each means no answer
        raise ClickHouseError(f"reading the sink journal for {topic}[{partition}] failed: {exc}") from exc
    return [Span(int(first), int(last)) for first, last in result.result_rows]


def journal_rows(batches: Sequence[Batch[Any]], now_ms: int | None = None) -> list[tuple[Any, ...]]:
    """The journal rows of freshly cut batches (journaled ones are already in the journal)."""
    planned_at = now_ms if now_ms is not None else time.time_ns() // 1_000_000
    return [
        (batch.topic, batch.partition, span.first_offset, span.last_offset, len(batch.items), planned_at)
        for batch in batches
        for span in (batch.span,)
        if not batch.journaled
    ]


def record_spans(client: Client, batches: Sequence[Batch[Any]]) -> int:
    """Journal the ranges of freshly cut batches; must return before any of them is inserted.

    Journaling a range twice is harmless: the journal replaces rows with the same partition and start.

    Returns:
        The number of ranges written.

    Raises:
        ClickHouseError: the journal insert failed; insert none of the batches.
    """
    rows = journal_rows(batches)
    if not rows:
        return 0
    try:
        client.insert(JOURNAL, rows, column_names=list(JOURNAL_COLUMNS), settings=_SYNC)
    except Exception as exc:  # clickhouse-connect raises several kinds; each means it did not land
        raise ClickHouseError(f"journaling {len(rows)} sink batches failed: {exc}") from exc
    return len(rows)
