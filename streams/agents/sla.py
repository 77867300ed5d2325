"""The SLA stage: task versions, task events and timer checks in; SLA events and lifecycle facts out.

Inputs (co-partitioned by task id): `tasks`, `tasks.events`, `sla.ticks`. One agent reads all three, so
a task's clocks change one event at a time. Outputs: `sla.events` (SlaEvent, keyed by task id),
`persons.facts` (feedback, closure and re-feedback, keyed by the task's person, so the dedup stage
learns that a task closed), and dead letters for events whose task never arrives.

The timer (`sla_timer`) runs on every worker: it pops the due entries of the partitions this worker
actively owns from the in-memory `DeadlineIndex` and sends a check command per task to `sla.ticks`, on
the task's own partition. It never touches the table; the agent re-checks inside the stream.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from faust.types import TP

from streams import metrics
from streams.agents.common import Where, dead_letter_at, register, send
from streams.logic import tasks as logic
from streams.logic.deadlines import DeadlineIndex
from streams.partitioning import kafka_partition

if TYPE_CHECKING:
    from faust.types import EventT, TableT

    from streams.app import Pipeline

STAGE = "sla"
INPUTS = ("tasks", "tasks.events", "sla.ticks")
log = logging.getLogger(__name__)


def attach(pipeline: Pipeline) -> DeadlineIndex:
    """Register the task table, the SLA agent and the SLA timer; returns the timer's index."""
    settings = pipeline.settings
    partitions = settings.topic_partitions
    index = DeadlineIndex(lambda task_id: kafka_partition(task_id, partitions))
    table = pipeline.app.Table(
        "sla_tasks",
        default=None,
        partitions=partitions,
        help="per task: SLA clocks, the task's person, events waiting for their task",
    )
    table.on_recover(partial(_rebuild_index, index, table))
    register(
        pipeline,
        STAGE,
        INPUTS,
        {
            "Task": partial(_on_task, pipeline, table, index),
            "TaskEvent": partial(_on_task_event, pipeline, table, index),
            "SlaTick": partial(_on_tick, pipeline, table, index),
        },
    )
    pipeline.app.timer(settings.sla_timer_interval_seconds, name="sla_timer")(
        partial(_timer, pipeline, index)
    )
    return index


async def _on_task(
    pipeline: Pipeline,
    table: TableT[str, Any],
    index: DeadlineIndex,
    event: EventT[Any],
    task: dict[str, Any],
) -> None:
    partition = event.message.partition
    pipeline.clock.observe(partition, int(task["updated_at"]), event.message.topic)
    before, state = _load(table, task["task_id"])
    if await _replay(pipeline, table, index, event, task["task_id"], before, state):
        return
    released = len(state.held)
    out = logic.on_task(
        state, task, pipeline.policy, pipeline.clock.now(partition), pipeline.clock, pipeline.sla
    )
    if released:
        metrics.TASK_EVENTS_HELD.labels("released").inc(released)
    await _finish(pipeline, table, index, task["task_id"], before, state, out, _position(event))


async def _on_task_event(
    pipeline: Pipeline,
    table: TableT[str, Any],
    index: DeadlineIndex,
    event: EventT[Any],
    record: dict[str, Any],
) -> None:
    message = event.message
    pipeline.clock.observe(message.partition, int(record["occurred_at"]), message.topic)
    before, state = _load(table, record["task_id"])
    if await _replay(pipeline, table, index, event, record["task_id"], before, state):
        return
    held = logic.Held(record, message.topic, message.partition, message.offset)
    now = pipeline.clock.now(message.partition)
    out = logic.on_task_event(state, held, now, pipeline.clock, pipeline.sla)
    if state.sla is None and not out.rejected:
        metrics.TASK_EVENTS_HELD.labels("held").inc()
    await _finish(pipeline, table, index, record["task_id"], before, state, out, _position(event))


async def _on_tick(
    pipeline: Pipeline,
    table: TableT[str, Any],
    index: DeadlineIndex,
    event: EventT[Any],
    tick: dict[str, Any],
) -> None:
    before, state = _load(table, tick["task_id"])
    if before is None:
        return  # purged, or a stale command for a task this partition never held
    if await _replay(pipeline, table, index, event, tick["task_id"], before, state):
        return
    now = pipeline.clock.now(event.message.partition)
    out = logic.on_check(state, now, pipeline.clock, pipeline.sla)
    await _finish(pipeline, table, index, tick["task_id"], before, state, out, _position(event))


def _load(table: TableT[str, Any], task_id: str) -> tuple[dict[str, Any] | None, logic.TaskState]:
    value = table.get(task_id)
    return value, logic.TaskState.from_dict(value)


def _position(event: EventT[Any]) -> str:
    message = event.message
    return f"{message.topic}:{message.partition}:{message.offset}"


async def _replay(
    pipeline: Pipeline,
    table: TableT[str, Any],
    index: DeadlineIndex,
    event: EventT[Any],
    task_id: str,
    before: dict[str, Any] | None,
    state: logic.TaskState,
) -> bool:
    """Re-emit an input's outputs if it is processed again after a restart; True if it was."""
    again = logic.replayed(state, _position(event))
    if again is None:
        return False
    metrics.SLA_REPLAYED_INPUTS.inc()
    await _emit(pipeline, task_id, again)
    index.schedule(task_id, logic.next_check_at(state))
    return True


def _committed(pipeline: Pipeline, position: str) -> bool:
    """Whether the consumer group has committed past `topic:partition:offset` (never reprocessed)."""
    topic, partition, offset = position.rsplit(":", 2)
    # faust keeps the offsets it committed per partition (the next offset to read); no public accessor.
    committed = pipeline.app.consumer._committed_offset.get(TP(topic, int(partition)))  # type: ignore[attr-defined]
    return committed is not None and int(offset) < committed


async def _emit(pipeline: Pipeline, task_id: str, out: logic.Outputs) -> None:
    for fact in out.person_facts:
        await send(pipeline, "persons.facts", fact["person_key"], "PersonFact", fact)
    for sla_event in out.sla_events:
        _count(pipeline, sla_event)
        await send(pipeline, "sla.events", task_id, "SlaEvent", sla_event)
    for rejected in out.rejected:
        await _reject(pipeline, rejected)


async def _finish(
    pipeline: Pipeline,
    table: TableT[str, Any],
    index: DeadlineIndex,
    task_id: str,
    before: dict[str, Any] | None,
    state: logic.TaskState,
    out: logic.Outputs,
    position: str,
) -> None:
    """Emit the outputs, then write the state back (only if it changed) and reschedule the task."""
    await _emit(pipeline, task_id, out)
    logic.remember(state, position, out, partial(_committed, pipeline))
    if out.purge:
        if before is not None:
            del table[task_id]
        index.schedule(task_id, None)
        return
    after = state.to_dict()
    if after != before:
        table[task_id] = after
    index.schedule(task_id, logic.next_check_at(state))


def _count(pipeline: Pipeline, sla_event: dict[str, Any]) -> None:
    kind = sla_event["kind"]
    metrics.SLA_EVENTS.labels(kind, sla_event["step"], sla_event["level"], sla_event["station_code"]).inc()
    if pipeline.clock.mode == "live" and kind == "BREACHED" and sla_event["completed_at"] is None:
        # Live, a breach found by the timer is stamped when found: overdue_by is the detection delay.
        metrics.SLA_BREACH_DETECTION_SECONDS.observe(int(sla_event["overdue_by_ms"]) / 1000)


async def _reject(pipeline: Pipeline, rejected: logic.Rejected) -> None:
    held = rejected.held
    value = pipeline.codec.encode("TaskEvent", held.event)
    await dead_letter_at(
        pipeline,
        STAGE,
        Where(held.topic, held.partition, held.offset),
        value,
        rejected.reason,
        rejected.error,
    )
    metrics.TASK_EVENTS_HELD.labels("dead_letter").inc()


async def _timer(pipeline: Pipeline, index: DeadlineIndex) -> None:
    """Send a check command for every due task on the partitions this worker actively owns."""
    tasks_topic = pipeline.settings.topic("tasks")
    ticks = pipeline.topics["sla.ticks"]
    sent_at = time.time_ns() // 1_000_000
    for tp in pipeline.app.assignor.assigned_actives():
        if tp.topic != tasks_topic:
            continue
        for task_id, due_at in index.pop_due(tp.partition, pipeline.clock.now(tp.partition)):
            tick = {"task_id": task_id, "due_at": due_at, "sent_at": sent_at}
            value = pipeline.codec.encode("SlaTick", tick)
            ticks.send_soon(key=task_id.encode(), value=value, partition=tp.partition)
            metrics.SLA_TICKS.inc()
    metrics.SLA_SCHEDULED.set(len(index))


async def _rebuild_index(index: DeadlineIndex, table: TableT[str, Any]) -> None:
    """After recovery: the index holds exactly the active partitions' pending checks."""
    entries = [
        (task_id, logic.next_check_at(logic.TaskState.from_dict(value))) for task_id, value in table.items()
    ]
    index.replace_all(entries)
    metrics.SLA_SCHEDULED.set(len(index))
    log.info("sla: deadline index rebuilt, %d tasks scheduled", len(index))
