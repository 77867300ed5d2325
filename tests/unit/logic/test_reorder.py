"""The replay reorder buffer."""

from __future__ import annotations

from random import Random

from hypothesis import given
from hypothesis import strategies as st

from streams.logic.reorder import ReorderBuffer

TASK, EVENT = 0, 1  # the SLA stage's ranks: task versions before task events at equal times


def test_releases_in_event_time_order_up_to_now_per_partition() -> None:
    buffer = ReorderBuffer()
    buffer.push(0, 300, (EVENT, 3), "c")
    buffer.push(0, 100, (EVENT, 1), "a")
    buffer.push(1, 50, (EVENT, 0), "other partition")
    buffer.push(0, 100, (EVENT, 2), "b")
    assert buffer.earliest(0) == 100
    assert buffer.pop_ready(0, 99) == []
    assert buffer.pop_ready(0, 200) == ["a", "b"]
    assert len(buffer) == 2
    assert buffer.drop([1]) == 1
    assert buffer.pop_ready(1, 10**9) == []
    assert buffer.pop_ready(0, 300) == ["c"]
    assert buffer.earliest(0) is None


def test_equal_times_follow_the_tiebreak_not_arrival() -> None:
    # A merge (task version) and a reception at the same millisecond, read in either order: the merge
    # is applied first both times (the arrival order once made T0600195's MET differ after a restart).
    for arrivals in (
        [("event", (EVENT, 7)), ("merge", (TASK, 3))],
        [("merge", (TASK, 3)), ("event", (EVENT, 7))],
    ):
        buffer = ReorderBuffer()
        for name, tiebreak in arrivals:
            buffer.push(0, 60_000, tiebreak, name)
        assert buffer.pop_ready(0, 60_000) == ["merge", "event"]


inputs = st.lists(
    st.tuples(st.integers(0, 1000), st.sampled_from([TASK, EVENT]), st.integers(0, 10**6)),
    unique_by=lambda item: (item[1], item[2]),  # one input per topic and offset
    max_size=60,
)


@given(inputs, st.integers(0, 1000))
def test_output_is_sorted_and_complete(items: list[tuple[int, int, int]], now: int) -> None:
    buffer = ReorderBuffer()
    for at, rank, offset in items:
        buffer.push(0, at, (rank, offset), (at, rank, offset))
    ready = buffer.pop_ready(0, now)
    assert ready == sorted(item for item in items if item[0] <= now)
    assert len(buffer) == len(items) - len(ready)


@given(inputs, st.randoms(use_true_random=False), st.lists(st.integers(0, 1000), max_size=5))
def test_release_order_does_not_depend_on_arrival_order(
    items: list[tuple[int, int, int]], rng: Random, releases: list[int]
) -> None:
    """Pushed in any order and released at any stream times, the inputs leave in one order."""

    def run(arrivals: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
        buffer = ReorderBuffer()
        for at, rank, offset in arrivals:
            buffer.push(0, at, (rank, offset), (at, rank, offset))
        out = [item for now in sorted(releases) for item in buffer.pop_ready(0, now)]
        return out + buffer.pop_ready(0, 10**9)

    shuffled = list(items)
    rng.shuffle(shuffled)
    assert run(shuffled) == run(items)
