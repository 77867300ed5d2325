"""The resolver stage: task events addressed by warning in; the same events addressed by task out.

Inputs (co-partitioned by alert key `<source>:<source_alert_id>`): `alerts.index` (the dedup stage's
verdict per warning), `tasks.events.by_ref` (events reported against a warning) and `resolver.ticks`
(the timer's check commands). One agent reads all three, so a reference's binding and its waiting
events change one event at a time. Outputs: `tasks.events` (keyed by task id, for the SLA stage and the
sink) and dead letters for events whose warning never arrives.

The timer (`resolver_timer`) pops due references of the partitions this worker actively owns from the
in-memory `DeadlineIndex` and sends a `ResolverTick` to `resolver.ticks` on the reference's partition.
It never touches the table; the agent re-checks inside the stream.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from streams import metrics
from streams.agents.common import (
    Where,
    dead_letter_at,
    input_position,
    is_committed,
    register,
    send,
    table_options,
)
from streams.logic import resolver as logic
from streams.logic.deadlines import DeadlineIndex
from streams.logic.event_ids import alert_key_of
from streams.logic.tasks import Held
from streams.partitioning import kafka_partition

if TYPE_CHECKING:
    from faust.types import EventT, TableT

    from streams.app import Pipeline

STAGE = "resolver"
INPUTS = ("alerts.index", "tasks.events.by_ref", "resolver.ticks")
log = logging.getLogger(__name__)


def attach(pipeline: Pipeline) -> ResolverStage:
    """Register the reference table, the resolver agent and its timer on the pipeline's app."""
    settings = pipeline.settings
    table = pipeline.app.Table(
        "alert_refs",
        default=None,
        partitions=settings.topic_partitions,
        help="per alert key: the task it belongs to, events waiting for it",
        options=table_options(settings),
    )
    stage = ResolverStage(pipeline, table)
    table.on_recover(stage.rebuild_index)
    register(
        pipeline,
        STAGE,
        INPUTS,
        {"AlertVerdict": stage.on_verdict, "TaskEvent": stage.on_event, "ResolverTick": stage.on_tick},
    )
    pipeline.app.timer(settings.resolver_timer_interval_seconds, name="resolver_timer")(stage.timer)
    return stage


def config_from(pipeline: Pipeline) -> logic.ResolverConfig:
    """The resolver's windows the settings ask for."""
    settings = pipeline.settings
    return logic.ResolverConfig(
        grace_ms=int(settings.resolver_grace_seconds * 1000),
        retention_ms=int(settings.resolver_retention_days * 24 * 60 * 60 * 1000),
    )


class ResolverStage:
    """The resolver's handlers and timer, sharing the table and the deadline index."""

    def __init__(self, pipeline: Pipeline, table: TableT[str, Any]) -> None:
        partitions = pipeline.settings.topic_partitions
        self.pipeline, self.table, self.config = pipeline, table, config_from(pipeline)
        self.index = DeadlineIndex(lambda alert_key: kafka_partition(alert_key, partitions))

    # --- Handlers: load, replay or apply the logic, finish -----------------------------------------

    async def on_verdict(self, event: EventT[Any], verdict: dict[str, Any]) -> None:
        """A warning's verdict from the dedup stage."""
        alert_key = str(verdict["alert_key"])
        before, state = self._load(alert_key)
        if await self._replayed(event, alert_key, state):
            return
        was_bound = state.task_id is not None
        out = logic.on_verdict(state, verdict, _now_ms(), self.config)
        if out.conflict:
            metrics.REF_VERDICTS.labels("conflict").inc()
            log.warning(
                "resolver: verdict for %s names task %s, but it is bound to %s; kept (%s)",
                alert_key,
                verdict["task_id"],
                state.task_id,
                _where(event),
            )
        else:
            metrics.REF_VERDICTS.labels("repeat" if was_bound else "bound").inc()
        await self._finish(event, alert_key, before, state, out)

    async def on_event(self, event: EventT[Any], record: dict[str, Any]) -> None:
        """A task event reported against a warning."""
        if not record.get("alert_ref"):
            raise ValueError(f"a TaskEvent on {event.message.topic} needs alert_ref")
        alert_key = alert_key_of(record["alert_ref"])
        before, state = self._load(alert_key)
        if await self._replayed(event, alert_key, state):
            return
        message = event.message
        held = Held(record, message.topic, message.partition, message.offset)
        waiting = len(state.held)
        out = logic.on_event(state, held, _now_ms(), self.config)
        if out.forwarded:
            metrics.REF_EVENTS.labels("resolved").inc()
        elif len(state.held) > waiting:
            metrics.REF_EVENTS.labels("held").inc()
        await self._finish(event, alert_key, before, state, out)

    async def on_tick(self, event: EventT[Any], tick: dict[str, Any]) -> None:
        """A timer's check command."""
        alert_key = str(tick["alert_key"])
        before, state = self._load(alert_key)
        if before is None:
            return  # purged, or a stale command
        if await self._replayed(event, alert_key, state):
            return
        out = logic.on_check(state, _now_ms(), self.config)
        await self._finish(event, alert_key, before, state, out)

    def _load(self, alert_key: str) -> tuple[dict[str, Any] | None, logic.RefState]:
        value = self.table.get(alert_key)
        return value, logic.RefState.from_dict(value)

    async def _replayed(self, event: EventT[Any], alert_key: str, state: logic.RefState) -> bool:
        """Re-emit an input's outputs if it is processed again after a restart; True if it was."""
        again = logic.replayed(state, input_position(event))
        if again is None:
            return False
        await self._emit(again, count=False)
        self.index.schedule(alert_key, logic.next_check_at(state))
        return True

    async def _finish(
        self,
        event: EventT[Any],
        alert_key: str,
        before: dict[str, Any] | None,
        state: logic.RefState,
        out: logic.RefOutputs,
    ) -> None:
        """Emit the outputs, then write the state back (only if it changed) and reschedule."""
        await self._emit(out, count=True)
        if out.purge:
            if before is not None:
                del self.table[alert_key]
            self.index.schedule(alert_key, None)
            return
        if state.to_dict() != (before or logic.RefState().to_dict()):
            # Only inputs that changed the state are remembered: the others recompute the same outputs.
            logic.remember(state, input_position(event), out, self._committed)
            self.table[alert_key] = state.to_dict()
        self.index.schedule(alert_key, logic.next_check_at(state))

    async def _emit(self, out: logic.RefOutputs, count: bool) -> None:
        for record in out.forwarded:
            await send(self.pipeline, "tasks.events", record["task_id"], "TaskEvent", record)
        for rejected in out.rejected:
            held = rejected.held
            value = self.pipeline.codec.encode("TaskEvent", held.event)
            where = Where(held.topic, held.partition, held.offset)
            await dead_letter_at(self.pipeline, STAGE, where, value, rejected.reason, rejected.error)
            if count:
                metrics.REF_EVENTS.labels("dead_letter").inc()
        if count and out.released:
            metrics.REF_EVENTS.labels("released").inc(out.released)

    def _committed(self, position: str) -> bool:
        return is_committed(self.pipeline.app, position)

    # --- Timer and recovery ---------------------------------------------------------------------------

    async def timer(self) -> None:
        """Send a check command for every due reference on the partitions this worker actively owns."""
        by_ref_topic = self.pipeline.settings.topic("tasks.events.by_ref")
        now = _now_ms()
        for tp in self.pipeline.app.assignor.assigned_actives():
            if tp.topic != by_ref_topic:
                continue
            for alert_key, due_at in self.index.pop_due(tp.partition, now):
                tick = {"alert_key": alert_key, "due_at": due_at, "sent_at": now}
                value = self.pipeline.codec.encode("ResolverTick", tick)
                self.pipeline.outputs.send("resolver.ticks", alert_key.encode(), value, tp.partition)
        metrics.RESOLVER_SCHEDULED.set(len(self.index))

    async def rebuild_index(self) -> None:
        """After recovery: the index holds exactly the active partitions' pending checks."""
        entries = [
            (alert_key, logic.next_check_at(logic.RefState.from_dict(value)))
            for alert_key, value in self.table.items()
        ]
        self.index.replace_all(entries)
        metrics.RESOLVER_SCHEDULED.set(len(self.index))
        log.info("resolver: check index rebuilt, %d alert refs scheduled", len(self.index))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _where(event: EventT[Any]) -> str:
    message = event.message
    return f"topic {message.topic} partition {message.partition} offset {message.offset}"
