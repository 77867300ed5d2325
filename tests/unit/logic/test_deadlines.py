"""The SLA timer's deadline index against a plain dict model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.logic.deadlines import DeadlineIndex


def partition_of(task_id: str) -> int:
    return int(task_id[1:]) % 3


def test_pops_only_what_is_due_on_that_partition_earliest_first() -> None:
    index = DeadlineIndex(partition_of)
    index.schedule("T0", 300)
    index.schedule("T3", 100)
    index.schedule("T1", 50)
    assert index.pop_due(0, 99) == []
    assert index.pop_due(0, 300) == [("T3", 100), ("T0", 300)]
    assert index.pop_due(0, 10**9) == []  # popped means gone until rescheduled
    assert index.pop_due(1, 50) == [("T1", 50)]
    assert len(index) == 0


def test_rescheduling_replaces_and_none_clears() -> None:
    index = DeadlineIndex(partition_of)
    index.schedule("T0", 100)
    index.schedule("T0", 500)
    index.schedule("T3", 100)
    index.schedule("T3", None)
    assert index.pop_due(0, 499) == []
    assert index.pop_due(0, 500) == [("T0", 500)]


def test_replace_all_forgets_revoked_partitions() -> None:
    index = DeadlineIndex(partition_of)
    index.schedule("T1", 10)
    index.replace_all([("T0", 20), ("T2", None)])
    assert len(index) == 1  # only T0: T1 is gone, T2 has nothing pending
    assert index.pop_due(1, 100) == []
    assert index.pop_due(0, 100) == [("T0", 20)]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("schedule"), st.integers(0, 20), st.none() | st.integers(0, 1000)),
            st.tuples(st.just("pop"), st.integers(0, 2), st.integers(0, 1000)),
        ),
        max_size=200,
    )
)
def test_matches_a_dict_model(operations: list[tuple[str, int, int | None]]) -> None:
    index = DeadlineIndex(partition_of)
    model: dict[str, int] = {}
    for operation, number, value in operations:
        if operation == "schedule":
            task_id = f"T{number}"
            index.schedule(task_id, value)
            if value is None:
                model.pop(task_id, None)
            else:
                model[task_id] = value
        else:
            assert value is not None
            expected = sorted(
                (
                    (at, task_id)
                    for task_id, at in model.items()
                    if partition_of(task_id) == number and at <= value
                )
            )
            assert index.pop_due(number, value) == [(task_id, at) for at, task_id in expected]
            for _, task_id in expected:
                del model[task_id]
        assert len(index) == len(model)


def test_compaction_keeps_the_live_entries() -> None:
    index = DeadlineIndex(partition_of)
    for round_ in range(30_000):
        index.schedule("T0", 10**6 - round_)  # each reschedule leaves a stale entry behind
    assert index._entries < 20_000
    assert index.pop_due(0, 10**6) == [("T0", 10**6 - 29_999)]
