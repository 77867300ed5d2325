"""Sink batches: cut by size and wait, and a replay cut at the journaled offsets whatever its timing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.logic.batches import Batch, PartitionBatcher, Span


def _batcher(
    max_rows: int = 3, max_wait: float = 1.0, journaled: list[Span] | None = None
) -> PartitionBatcher[str]:
    return PartitionBatcher("t", 0, max_rows, max_wait, journaled or [])


def _offsets(batches: list[Batch[str]]) -> list[list[int]]:
    return [[offset for offset, _ in batch.items] for batch in batches]


def test_full_batches_are_cut_at_once_and_the_rest_waits() -> None:
    batcher = _batcher()
    for offset in range(7):
        batcher.add(offset, f"r{offset}", now=0.0)
    batches = batcher.cut(now=0.5)
    assert _offsets(batches) == [[0, 1, 2], [3, 4, 5]]
    assert [batch.token for batch in batches] == ["t:0:0-2", "t:0:3-5"]
    assert batcher.pending == 1
    assert batcher.cut(now=0.9) == []
    assert _offsets(batcher.cut(now=1.0)) == [[6]]


def test_a_batch_waits_from_its_oldest_record() -> None:
    batcher = _batcher(max_rows=10, max_wait=2.0)
    batcher.add(5, "a", now=10.0)
    batcher.add(9, "b", now=11.5)  # a compacted topic skips offsets
    assert batcher.cut(now=11.9) == []
    (batch,) = batcher.cut(now=12.0)
    assert (batch.span, batch.journaled, batch.token) == (Span(5, 9), False, "t:0:5-9")


def test_journaled_ranges_are_cut_exactly_once_complete() -> None:
    batcher = _batcher(max_rows=100, journaled=[Span(10, 14), Span(15, 15)])
    for offset in range(10, 13):
        batcher.add(offset, "x", now=0.0)
    assert batcher.cut(now=99.0) == []  # 13 and 14 are still to come, however long it takes
    batcher.add(13, "x", now=0.0)
    batcher.add(14, "x", now=0.0)
    batcher.add(15, "x", now=0.0)
    batcher.add(16, "x", now=0.0)
    batches = batcher.cut(now=0.0)
    assert [(batch.token, batch.journaled) for batch in batches] == [("t:0:10-14", True), ("t:0:15-15", True)]
    assert batcher.pending == 1  # offset 16 is fresh: it waits for company


def test_a_fresh_batch_never_crosses_into_a_journaled_range() -> None:
    batcher = _batcher(max_rows=100, journaled=[Span(20, 25)])
    for offset in (17, 18, 19, 20, 22, 25):
        batcher.add(offset, "x", now=0.0)
    batches = batcher.cut(now=0.0)
    assert [(batch.token, batch.journaled) for batch in batches] == [
        ("t:0:17-19", False),
        ("t:0:20-25", True),
    ]


def test_a_resume_inside_a_journaled_range_keeps_its_token() -> None:
    batcher = _batcher(journaled=[Span(0, 9), Span(10, 14)])  # a span wholly before 12 is ignored
    for offset in (12, 13, 14):
        batcher.add(offset, "x", now=0.0)
    assert [batch.token for batch in batcher.cut(now=0.0)] == ["t:0:10-14"]


def test_offsets_must_increase() -> None:
    batcher = _batcher()
    batcher.add(4, "x", now=0.0)
    assert not batcher.follows(4)
    with pytest.raises(ValueError, match="offset 3 came after 4"):
        batcher.add(3, "x", now=0.0)


def _run(
    batcher: PartitionBatcher[str], offsets: list[int], chunks: list[int], waits: list[float]
) -> list[Batch[str]]:
    """Feed `offsets` in chunks of the given sizes, cutting after each at a clock advanced by `waits`."""
    batches: list[Batch[str]] = []
    now, position = 0.0, 0
    for i, size in enumerate([*chunks, len(offsets)]):
        for offset in offsets[position : position + size]:
            batcher.add(offset, f"r{offset}", now)
        position += size
        now += waits[i % len(waits)]
        batches += batcher.cut(now)
        if position >= len(offsets):
            break
    return batches + batcher.cut(now + 1e9)


@given(
    gaps=st.lists(st.integers(1, 3), min_size=1, max_size=80),
    live_chunks=st.lists(st.integers(1, 12), max_size=20),
    replay_chunks=st.lists(st.integers(1, 12), max_size=20),
    waits=st.lists(st.floats(0, 2), min_size=1, max_size=5),
    max_rows=st.integers(1, 10),
    data=st.data(),
)
def test_a_replay_after_any_crash_repeats_every_uncommitted_token(
    gaps: list[int],
    live_chunks: list[int],
    replay_chunks: list[int],
    waits: list[float],
    max_rows: int,
    data: st.DataObject,
) -> None:
    """Crash after k batches were committed and m >= k were journaled (and maybe inserted): the replay
    from the committed offset cuts batches k..m-1 with their original tokens and items, and covers every
    record after them exactly once."""
    offsets = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    live = _run(PartitionBatcher("t", 0, max_rows, 1.0), offsets, live_chunks, waits)
    assert [offset for batch in live for offset, _ in batch.items] == offsets
    journaled = data.draw(st.integers(0, len(live)), label="journaled")
    committed = data.draw(st.integers(0, journaled), label="committed")
    resume_at = live[committed].span.first_offset if committed < len(live) else offsets[-1] + 1
    # What the journal query returns (streams.db.journal.planned_spans): ranges ending at or after it.
    spans = [batch.span for batch in live[:journaled] if batch.span.last_offset >= resume_at]

    replayed = _run(
        PartitionBatcher("t", 0, max_rows, 1.0, spans),
        [offset for offset in offsets if offset >= resume_at],
        replay_chunks,
        waits[::-1],
    )
    original = live[committed:journaled]
    assert [(b.token, b.items) for b in replayed[: len(original)]] == [(b.token, b.items) for b in original]
    assert all(batch.journaled for batch in replayed[: len(original)])
    rest = [offset for batch in replayed[len(original) :] for offset, _ in batch.items]
    assert (
        rest == [offset for offset in offsets if offset >= resume_at][sum(len(b.items) for b in original) :]
    )
    assert all(len(batch.items) <= max_rows for batch in replayed[len(original) :])
