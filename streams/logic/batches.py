"""Cutting one Kafka partition's records into sink batches that a replay cuts the same way. Pure.

ClickHouse drops a re-sent batch only if its deduplication token, `topic:partition:first-last`, is the
one it stored, so a batch replayed after a crash must be cut at exactly the offsets of the original.
Timing decides where a live batch ends (how much had arrived when the wait ran out), so the sink
records each batch's range in a journal before inserting it (`Span`), and after a restart cuts the
records past the committed offset at the journaled ranges first. Only records beyond every journaled
range are cut freshly, at most `max_rows` at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")


@dataclass(frozen=True, order=True)
class Span:
    """A batch's offset range in its partition, both ends included."""

    first_offset: int
    last_offset: int

    def __post_init__(self) -> None:
        if self.last_offset < self.first_offset:
            raise ValueError(f"span ends ({self.last_offset}) before it starts ({self.first_offset})")


@dataclass(frozen=True)
class Batch(Generic[Item]):
    """Records of one partition to insert together under one token.

    Attributes:
        topic: the Kafka topic read.
        partition: its partition.
        span: the offset range (the token's range; with a compacted topic some offsets are missing).
        items: the records, in offset order, as (offset, item).
        journaled: the range came from the journal (a replay), so it need not be journaled again.
    """

    topic: str
    partition: int
    span: Span
    items: tuple[tuple[int, Item], ...]
    journaled: bool

    @property
    def token(self) -> str:
        """The insert deduplication token: `topic:partition:first-last`."""
        return f"{self.topic}:{self.partition}:{self.span.first_offset}-{self.span.last_offset}"


@dataclass
class PartitionBatcher(Generic[Item]):
    """Collects one partition's records and cuts them into batches.

    Attributes:
        topic: the topic.
        partition: the partition.
        max_rows: the most records in a fresh batch.
        journaled: ranges planned before a restart that were not yet committed, in offset order.
        max_wait: how long (seconds) the oldest queued record may wait for its batch to fill.
    """

    topic: str
    partition: int
    max_rows: int
    max_wait: float
    journaled: list[Span] = field(default_factory=list)
    _pending: list[tuple[int, Item]] = field(default_factory=list)
    _last_added: int | None = None
    _waiting_since: float = 0.0

    def __post_init__(self) -> None:
        if self.max_rows < 1:
            raise ValueError("a batch holds at least one record")
        self.journaled = sorted(self.journaled)

    def add(self, offset: int, item: Item, now: float) -> None:
        """Queue one record, read at `now` (seconds); offsets arrive in increasing order, as Kafka's do.

        Raises:
            ValueError: the offset is not after the last queued one.
        """
        if not self.follows(offset):
            raise ValueError(f"{self.topic}[{self.partition}]: offset {offset} came after {self._last_added}")
        if not self._pending:
            self._waiting_since = now
        self._pending.append((offset, item))
        self._last_added = offset

    def follows(self, offset: int) -> bool:
        """Whether `offset` comes after every record added so far (False: the partition was rewound)."""
        return self._last_added is None or offset > self._last_added

    @property
    def pending(self) -> int:
        """Records queued and not yet cut."""
        return len(self._pending)

    def cut(self, now: float) -> list[Batch[Item]]:
        """Every batch that is due at `now` (seconds, the clock of `add`).

        A journaled range is cut as soon as its last record (or a later one) has arrived. Fresh batches
        are cut `max_rows` at a time, never across the start of a journaled range; a smaller batch only
        once its oldest record has waited `max_wait`.
        """
        batches: list[Batch[Item]] = []
        while self._pending:
            batch = self._cut_one(now)
            if batch is None:
                break
            batches.append(batch)
        return batches

    def _cut_one(self, now: float) -> Batch[Item] | None:
        first = self._pending[0][0]
        self.journaled = [span for span in self.journaled if span.last_offset >= first]
        if self.journaled and self.journaled[0].first_offset <= first:
            return self._cut_journaled(self.journaled[0])
        limit = self.journaled[0].first_offset if self.journaled else None
        size = 0
        for offset, _ in self._pending[: self.max_rows]:
            if limit is not None and offset >= limit:
                break
            size += 1
        filling = size == len(self._pending) and size < self.max_rows
        if filling and now - self._waiting_since < self.max_wait:
            return None  # room left in the batch, and its oldest record has time to wait
        items = self._take(size)
        return Batch(self.topic, self.partition, Span(items[0][0], items[-1][0]), items, journaled=False)

    def _cut_journaled(self, span: Span) -> Batch[Item] | None:
        if self._pending[-1][0] < span.last_offset:
            return None  # the rest of the range has not arrived yet
        size = sum(1 for offset, _ in self._pending if offset <= span.last_offset)
        self.journaled.pop(0)
        return Batch(self.topic, self.partition, span, self._take(size), journaled=True)

    def _take(self, size: int) -> tuple[tuple[int, Item], ...]:
        items = tuple(self._pending[:size])
        del self._pending[:size]
        return items
