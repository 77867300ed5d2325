"""The SLA stage: task versions, task events and timer checks in; SLA events and lifecycle facts out.

Inputs (co-partitioned by task id): `tasks`, `tasks.events`, `sla.ticks`. One agent reads all three, so
a task's clocks change one event at a time. Outputs: `sla.events` (SlaEvent, keyed by task id),
`persons.facts` (feedback, closure and re-feedback, keyed by the task's person, so the dedup stage
learns that a task closed), and dead letters for events whose task never arrives.

Live clock: inputs are applied as they arrive, at wall-clock time. Event clock (replay): inputs wait in
a reorder buffer, unacked, until the partition's stream time reaches them, and are applied in
event-time order at their own time, so a backfill gives the SLA events that happened.

The timer (`sla_timer`) runs on every worker: it pops the due entries of the partitions this worker
actively owns from the in-memory `DeadlineIndex` and sends a check command per task to `sla.ticks`, on
the task's own partition. It never touches the table; the agent re-checks inside the stream.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from functools import partial
from typing import TYPE_CHECKING, Any

from faust.exceptions import ConsumerNotStarted
from faust.types import TP

from streams import metrics
from streams.agents.common import (
    Where,
    dead_letter_at,
    decode,
    handle,
    input_position,
    is_committed,
    send,
    table_options,
)
from streams.clock import EventClock
from streams.logic import tasks as logic
from streams.logic.deadlines import DeadlineIndex
from streams.logic.reorder import ReorderBuffer
from streams.partitioning import kafka_partition

if TYPE_CHECKING:
    from faust.types import EventT, StreamT, TableT

    from streams.app import Pipeline

STAGE = "sla"
INPUTS = ("tasks", "tasks.events", "sla.ticks")
# Replay applies inputs of equal event time in this order (then by offset), never in arrival order:
# a task version at t says what the task was at t, so an event at t is applied to the task after it.
_APPLY_RANK = {"Task": 0, "TaskEvent": 1}
log = logging.getLogger(__name__)


def attach(pipeline: Pipeline) -> SlaStage:
    """Register the task table, the SLA agent and the SLA timer on the pipeline's app."""
    settings = pipeline.settings
    table = pipeline.app.Table(
        "sla_tasks",
        default=None,
        partitions=settings.topic_partitions,
        help="per task: SLA clocks, the task's person, events waiting for their task",
        options=table_options(settings),
    )
    stage = SlaStage(pipeline, table)
    if isinstance(pipeline.clock, EventClock):
        pipeline.clock.unread = partial(_unread, pipeline.app)
    table.on_recover(stage.rebuild_index)
    source = pipeline.app.topic(
        *(settings.topic(name) for name in INPUTS), key_serializer="raw", value_serializer="raw"
    )
    pipeline.app.agent(source, name=STAGE, concurrency=1)(stage.run)
    pipeline.app.timer(settings.sla_timer_interval_seconds, name="sla_timer")(stage.timer)
    pipeline.app.on_partitions_revoked.connect(stage.on_revoked)
    return stage


class SlaStage:
    """The SLA agent's loop, handlers and timer, sharing the table, the deadline index and the buffer."""

    def __init__(self, pipeline: Pipeline, table: TableT[str, Any]) -> None:
        partitions = pipeline.settings.topic_partitions
        self.pipeline, self.table, self.clock = pipeline, table, pipeline.clock
        self.index = DeadlineIndex(lambda task_id: kafka_partition(task_id, partitions))
        self.waiting = ReorderBuffer()
        self._release_requested: set[int] = set()
        self._buffered = False

    # --- The agent ---------------------------------------------------------------------------------

    async def run(self, stream: StreamT[Any]) -> None:
        """The agent body: live, apply on arrival; replay, apply in event-time order."""
        if self.clock.mode == "live":
            async for event in stream.events():
                await handle(self.pipeline, STAGE, event, partial(self._live, event))
        else:
            # Acks are manual in replay: an input waiting in the buffer keeps its offset uncommitted.
            replay = stream.noack()  # type: ignore[attr-defined]  # Stream has noack(); StreamT omits it
            async for event in replay.events():
                self._buffered = False
                await handle(self.pipeline, STAGE, event, partial(self._replay_arrival, replay, event))
                if not self._buffered:  # a tick, or a record dead-lettered on arrival
                    await replay.ack(event)

    async def _live(self, event: EventT[Any]) -> None:
        record_type, record = decode(self.pipeline, event)
        await self._apply(event, record_type, record, self.clock.now(event.message.partition))

    async def _replay_arrival(self, stream: StreamT[Any], event: EventT[Any]) -> None:
        """Replay: hold a task or task event until stream time reaches it; a tick releases and checks."""
        partition = event.message.partition
        record_type, record = decode(self.pipeline, event)
        if record_type == "SlaTick":
            self._release_requested.discard(partition)
            await self._release(stream, partition)
            await self._apply(event, record_type, record, self.clock.now(partition))
            return
        at = _event_time(record_type, record)
        self.clock.observe(partition, at, event.message.topic, event.message.offset)
        tiebreak = (_APPLY_RANK.get(record_type, len(_APPLY_RANK)), event.message.offset)
        self.waiting.push(partition, at, tiebreak, (event, record_type, record))
        self._buffered = True
        await self._release(stream, partition)

    async def _release(self, stream: StreamT[Any], partition: int) -> None:
        """Apply, in event-time order, every waiting input stream time has reached; ack each after."""
        for event, record_type, record in self.waiting.pop_ready(partition, self.clock.now(partition)):
            work = partial(self._apply, event, record_type, record, _event_time(record_type, record))
            await handle(self.pipeline, STAGE, event, work)
            await stream.ack(event)

    async def _apply(self, event: EventT[Any], record_type: str, record: dict[str, Any], now: int) -> None:
        handler = {"Task": self._on_task, "TaskEvent": self._on_task_event, "SlaTick": self._on_tick}.get(
            record_type
        )
        if handler is None:
            raise ValueError(f"{record_type} does not belong on {event.message.topic}")
        await handler(event, record, now)

    # --- Handlers: load, replay or apply the logic, finish -------------------------------------------

    async def _on_task(self, event: EventT[Any], task: dict[str, Any], now: int) -> None:
        before, state = self._load(task["task_id"])
        if await self._replayed(event, task["task_id"], state):
            return
        released = len(state.held)
        out = logic.on_task(state, task, self.pipeline.policy.current, now, self.clock, self.pipeline.sla)
        if released:
            metrics.TASK_EVENTS_HELD.labels("released").inc(released)
        await self._finish(event, task["task_id"], before, state, out)

    async def _on_task_event(self, event: EventT[Any], record: dict[str, Any], now: int) -> None:
        message = event.message
        before, state = self._load(record["task_id"])
        if await self._replayed(event, record["task_id"], state):
            return
        held = logic.Held(record, message.topic, message.partition, message.offset)
        out = logic.on_task_event(state, held, now, self.clock, self.pipeline.sla)
        if state.sla is None and not out.rejected:
            metrics.TASK_EVENTS_HELD.labels("held").inc()
        await self._finish(event, record["task_id"], before, state, out)

    async def _on_tick(self, event: EventT[Any], tick: dict[str, Any], now: int) -> None:
        before, state = self._load(tick["task_id"])
        if before is None:
            return  # purged, a stale command, or only a release request
        if await self._replayed(event, tick["task_id"], state):
            return
        out = logic.on_check(state, now, self.clock, self.pipeline.sla)
        await self._finish(event, tick["task_id"], before, state, out)

    def _load(self, task_id: str) -> tuple[dict[str, Any] | None, logic.TaskState]:
        value = self.table.get(task_id)
        return value, logic.TaskState.from_dict(value)

    async def _replayed(self, event: EventT[Any], task_id: str, state: logic.TaskState) -> bool:
        """Re-emit an input's outputs if it is processed again after a restart; True if it was."""
        again = logic.replayed(state, input_position(event))
        if again is None:
            return False
        metrics.SLA_REPLAYED_INPUTS.inc()
        await self._emit(task_id, again)
        self.index.schedule(task_id, logic.next_check_at(state))
        return True

    async def _finish(
        self,
        event: EventT[Any],
        task_id: str,
        before: dict[str, Any] | None,
        state: logic.TaskState,
        out: logic.Outputs,
    ) -> None:
        """Emit the outputs, then write the state back (only if it changed) and reschedule the task."""
        await self._emit(task_id, out)
        logic.remember(state, input_position(event), out, self._committed)
        if out.purge:
            if before is not None:
                del self.table[task_id]
            self.index.schedule(task_id, None)
            return
        after = state.to_dict()
        if after != before:
            self.table[task_id] = after
        self.index.schedule(task_id, logic.next_check_at(state))

    async def _emit(self, task_id: str, out: logic.Outputs) -> None:
        for fact in out.person_facts:
            await send(self.pipeline, "persons.facts", fact["person_key"], "PersonFact", fact)
        for sla_event in out.sla_events:
            self._count(sla_event)
            await send(self.pipeline, "sla.events", task_id, "SlaEvent", sla_event)
        for rejected in out.rejected:
            held = rejected.held
            value = self.pipeline.codec.encode("TaskEvent", held.event)
            where = Where(held.topic, held.partition, held.offset)
            await dead_letter_at(self.pipeline, STAGE, where, value, rejected.reason, rejected.error)
            metrics.TASK_EVENTS_HELD.labels("dead_letter").inc()

    def _count(self, sla_event: dict[str, Any]) -> None:
        kind = sla_event["kind"]
        labels = (kind, sla_event["step"], sla_event["level"], sla_event["station_code"])
        metrics.SLA_EVENTS.labels(*labels).inc()
        if self.clock.mode == "live" and kind == "BREACHED":
            # Live, a breach is stamped when found: overdue_by is the detection delay.
            metrics.SLA_BREACH_DETECTION_SECONDS.observe(int(sla_event["overdue_by_ms"]) / 1000)

    def _committed(self, position: str) -> bool:
        return is_committed(self.pipeline.app, position)

    # --- Timer and rebalances -------------------------------------------------------------------------

    async def timer(self) -> None:
        """Send a check command for every due task on the partitions this worker actively owns."""
        tasks_topic = self.pipeline.settings.topic("tasks")
        sent_at = time.time_ns() // 1_000_000
        for tp in self.pipeline.app.assignor.assigned_actives():
            if tp.topic != tasks_topic:
                continue
            now = self.clock.now(tp.partition)
            for task_id, due_at in self.index.pop_due(tp.partition, now):
                self._send_tick(tp.partition, task_id, due_at, sent_at)
            self._request_release(tp.partition, now, sent_at)
        metrics.SLA_SCHEDULED.set(len(self.index))

    def _request_release(self, partition: int, now: int, sent_at: int) -> None:
        """Replay: when stream time passed waiting inputs but nothing arrives (idle inputs), nudge."""
        earliest = self.waiting.earliest(partition)
        if earliest is not None and earliest <= now and partition not in self._release_requested:
            self._release_requested.add(partition)
            self._send_tick(partition, "", earliest, sent_at)

    def _send_tick(self, partition: int, task_id: str, due_at: int, sent_at: int) -> None:
        tick = {"task_id": task_id, "due_at": due_at, "sent_at": sent_at}
        value = self.pipeline.codec.encode("SlaTick", tick)
        self.pipeline.outputs.send("sla.ticks", task_id.encode(), value, partition)
        metrics.SLA_TICKS.inc()

    async def rebuild_index(self) -> None:
        """After recovery: the index holds exactly the active partitions' pending checks."""
        entries = [
            (task_id, logic.next_check_at(logic.TaskState.from_dict(value)))
            for task_id, value in self.table.items()
        ]
        self.index.replace_all(entries)
        metrics.SLA_SCHEDULED.set(len(self.index))
        log.info("sla: deadline index rebuilt, %d tasks scheduled", len(self.index))

    async def on_revoked(self, app: Any, /, *args: Any, signal: Any = None, **_: Any) -> None:
        """Forget waiting inputs of revoked partitions: unacked, they go to their new owner."""
        revoked: Iterable[TP] = args[0] if args else ()
        partitions = {tp.partition for tp in revoked if tp.topic != self.pipeline.settings.topic("sla.ticks")}
        dropped = self.waiting.drop(partitions)
        self._release_requested -= partitions
        if dropped:
            log.info(
                "sla: %d waiting inputs of revoked partitions %s left to their new owner", dropped, partitions
            )


def _unread(app: Any, partition: int, topic: str, offset: int) -> bool:
    """Whether the consumer knows of records on `topic` past `offset` (from its last fetch's high
    watermark; a stale one only errs towards "caught up", the old wall-clock behaviour)."""
    try:
        highwater = app.consumer.highwater(TP(topic, partition))
    except (AssertionError, ConsumerNotStarted):  # aiokafka asserts the partition is assigned
        return False
    return highwater is not None and offset + 1 < highwater


def _event_time(record_type: str, record: dict[str, Any]) -> int:
    return int(record["updated_at"] if record_type == "Task" else record["occurred_at"])
