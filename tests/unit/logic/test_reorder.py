"""The replay reorder buffer."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.logic.reorder import ReorderBuffer


def test_releases_in_event_time_order_up_to_now_per_partition() -> None:
    buffer = ReorderBuffer()
    buffer.push(0, 300, "c")
    buffer.push(0, 100, "a")
    buffer.push(1, 50, "other partition")
    buffer.push(0, 100, "b")  # equal times keep arrival order
    assert buffer.earliest(0) == 100
    assert buffer.pop_ready(0, 99) == []
    assert buffer.pop_ready(0, 200) == ["a", "b"]
    assert len(buffer) == 2
    assert buffer.drop([1]) == 1
    assert buffer.pop_ready(1, 10**9) == []
    assert buffer.pop_ready(0, 300) == ["c"]
    assert buffer.earliest(0) is None


@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 1000)), max_size=60), st.integers(0, 1000))
def test_output_is_sorted_and_complete(items: list[tuple[int, int]], now: int) -> None:
    buffer = ReorderBuffer()
    for index, (_, at) in enumerate(items):
        buffer.push(0, at, (at, index))
    ready = buffer.pop_ready(0, now)
    assert ready == sorted((at, index) for index, (_, at) in enumerate(items) if at <= now)
    assert len(buffer) == len(items) - len(ready)
