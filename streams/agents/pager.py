"""The pager stage: SLA events and task versions in; alerts on Alertmanager's v2 API out.

Inputs (co-partitioned by task id): `tasks` (status, level and masked name of each task) and
`sla.events`. The agent only updates the `pager_tasks` table, one value per task holding the alerts
Alertmanager should have (`streams/logic/pager.py`), and returns: all agents share one consumer, so
an agent waiting on Alertmanager would stall every stage.

The timer (`pager_timer`) does the network I/O. Every `RISKALERT_PAGER_TIMER_INTERVAL_SECONDS` it
pushes, from the in-memory `PagerIndex` of the partitions this worker actively owns, every alert that
Alertmanager has not accepted yet (new, resolved, changed) and every firing alert due for its refresh
(`streams/logic/pager_push.py`). It never writes the table; what Alertmanager accepted is kept in
memory, so after a restart or a rebalance every alert is pushed once more (Alertmanager deduplicates
by labels). When Alertmanager is down, pushes are retried with backoff and nothing is lost: the table
holds what must be sent.

Purging: a task's entry is deleted in the agent path (the table is only written there), when an
event of the same partition arrives after the entry's purge time (`logic.purge_at`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streams import metrics
from streams.agents.common import register, table_options
from streams.alertmanager import AlertmanagerClient
from streams.errors import AlertmanagerError
from streams.logic import pager as logic
from streams.logic.deadlines import DeadlineIndex
from streams.logic.pager_push import Delivery, Outgoing, PagerIndex, PushConfig, outgoing, render
from streams.partitioning import kafka_partition

if TYPE_CHECKING:
    from faust.types import EventT, TableT

    from streams.app import Pipeline
    from streams.settings import Settings

STAGE = "pager"
INPUTS = ("tasks", "sla.events")
# Alerts per POST: Alertmanager takes any number, but a bounded body keeps each request quick.
MAX_ALERTS_PER_POST = 500
LEVELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
OUTCOMES = ("sent", "refreshed", "resolved", "failed")
log = logging.getLogger(__name__)


def pager_config(settings: Settings) -> logic.PagerConfig:
    """What the settings ask the pager to page for and keep."""
    return logic.PagerConfig(
        at_risk_levels=frozenset(settings.pager_at_risk_levels),
        region=settings.pager_region or None,
        resolved_retention_ms=int(settings.pager_resolved_retention_seconds * 1000),
        idle_retention_ms=int(settings.pager_idle_retention_days * 86_400_000),
    )


def push_config(settings: Settings) -> PushConfig:
    """The timer's timing from the settings."""
    resend_ms = int(settings.pager_resend_seconds * 1000)
    return PushConfig(
        resend_ms=resend_ms,
        ttl_ms=4 * resend_ms,
        retry_base_ms=int(min(settings.pager_retry_max_seconds, 0.5) * 1000),
        retry_max_ms=int(settings.pager_retry_max_seconds * 1000),
        unknown_task_grace_ms=int(settings.pager_unknown_task_grace_seconds * 1000),
    )


def attach(pipeline: Pipeline) -> PagerStage:
    """Register the pager table, agent and timer on the pipeline's app."""
    settings, app = pipeline.settings, pipeline.app
    if settings.sla_clock == "event":
        log.warning(
            "pager: this worker replays with the event clock; its SLA events will be paged to %s. "
            'Replay without the pager: RISKALERT_WORKER_STAGES=\'["dedup", "sla"]\'',
            settings.alertmanager_url,
        )
    table = app.Table(
        "pager_tasks",
        default=None,
        partitions=settings.topic_partitions,
        help="per task: status, masked name and the SLA alerts Alertmanager should hold",
        options=table_options(settings),
    )
    client = AlertmanagerClient(settings.alertmanager_url, settings.pager_request_timeout_seconds)
    stage = PagerStage(pipeline, table, client)
    table.on_recover(stage.rebuild)
    register(pipeline, STAGE, INPUTS, {"Task": stage.on_task, "SlaEvent": stage.on_sla_event})
    app.timer(settings.pager_timer_interval_seconds, name="pager_timer")(stage.timer)
    app.on_before_shutdown.connect(stage.on_shutdown)
    # Every series exists from the start, so increase() sees the first failure (RiskAlertPagerFailing).
    for kind in logic.KINDS:
        for outcome in OUTCOMES:
            metrics.PAGES.labels(kind, outcome)
    return stage


def _wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class PagerStage:
    """The pager's handlers (table writes) and timer (pushes), sharing the index."""

    def __init__(
        self,
        pipeline: Pipeline,
        table: TableT[str, Any],
        client: AlertmanagerClient,
        now_ms: Callable[[], int] = _wall_clock_ms,
    ) -> None:
        settings = pipeline.settings
        self.pipeline, self.table, self.client, self.now_ms = pipeline, table, client, now_ms
        self.config = pager_config(settings)
        self.push = push_config(settings)
        partitions = settings.topic_partitions
        self.index = PagerIndex(lambda task_id: kafka_partition(task_id, partitions))
        self.purges = DeadlineIndex(lambda task_id: kafka_partition(task_id, partitions))
        self.delivery = Delivery(self.push)

    # --- The agent: table writes only ----------------------------------------------------------------

    async def on_task(self, event: EventT[Any], task: dict[str, Any]) -> None:
        """A task version: status, level, masked name; a closure resolves the task's alerts."""
        now = self.now_ms()
        self._update(task["task_id"], lambda state: logic.on_task(state, task, now), now)
        self._purge_due(event.message.partition, now)

    async def on_sla_event(self, event: EventT[Any], sla_event: dict[str, Any]) -> None:
        """An SLA event: open, supersede or resolve the alerts of its step."""
        now = self.now_ms()
        self._update(
            sla_event["task_id"], lambda state: logic.on_sla_event(state, sla_event, now, self.config), now
        )
        self._purge_due(event.message.partition, now)

    def _update(self, task_id: str, change: Callable[[logic.PagerTask], None], now: int) -> None:
        before = self.table.get(task_id)
        state = logic.PagerTask.from_dict(before)
        change(state)
        after = state.to_dict()
        if after != before:
            self.table[task_id] = after
        self.index.put(task_id, state)
        self.purges.schedule(task_id, logic.purge_at(state, self.config))

    def _purge_due(self, partition: int, now: int) -> None:
        """Delete the partition's entries whose purge time passed (same partition: same changelog)."""
        for task_id, _ in self.purges.pop_due(partition, now):
            state = logic.PagerTask.from_dict(self.table.get(task_id))
            due = logic.purge_at(state, self.config)
            if due is not None and due <= now:
                if task_id in self.table:
                    del self.table[task_id]
                self.index.put(task_id, None)
                metrics.PAGER_PURGED.inc()
            else:
                self.purges.schedule(task_id, due)

    # --- The timer: pushes only --------------------------------------------------------------------

    async def timer(self) -> None:
        """Push what Alertmanager lacks for the partitions this worker actively owns."""
        try:
            await self._push_due()
        except Exception:  # a bug here must not stop the timer (faust would crash the worker)
            log.exception("pager: the push round failed")

    async def _push_due(self) -> None:
        now = self.now_ms()
        sla_events = self.pipeline.settings.topic("sla.events")
        partitions = [
            tp.partition for tp in self.pipeline.app.assignor.assigned_actives() if tp.topic == sla_events
        ]
        items = [
            item
            for p in partitions
            for task_id, task in self.index.tasks(p)
            for item in outgoing(task_id, task)
        ]
        self._export(partitions, items)
        if not self.delivery.ready(now):
            return
        self.delivery.forget_except({item.alert_id for item in items})
        due = [item for item in items if self.delivery.due(item, now)]
        for start in range(0, len(due), MAX_ALERTS_PER_POST):
            if not await self._post(due[start : start + MAX_ALERTS_PER_POST], now):
                return

    async def _post(self, batch: list[Outgoing], now: int) -> bool:
        """POST one batch; False when Alertmanager could not be reached (back off, try later)."""
        body = [render(item, now, self.push, self.pipeline.settings.grafana_url) for item in batch]
        try:
            await self.client.post_alerts(body)
        except AlertmanagerError as exc:
            if exc.rejected and len(batch) > 1:
                # One invalid alert must not hold up the others: send them one by one.
                for item in batch:
                    await self._post([item], now)
                return True
            self._count(batch, "failed")
            if exc.rejected:
                log.error("pager: Alertmanager refused alert %s: %s", batch[0].alert_id, exc)
                self.delivery.accepted(batch, now)  # the same content would be refused again
                return True
            wait_ms = self.delivery.failed(now)
            log.warning(
                "pager: %d alerts not delivered, retrying in %.1f s: %s", len(batch), wait_ms / 1000, exc
            )
            return False
        for item in batch:
            metrics.PAGES.labels(item.kind, self.delivery.outcome(item)).inc()
        self.delivery.accepted(batch, now)
        return True

    def _count(self, batch: list[Outgoing], outcome: str) -> None:
        for kind, count in Counter(item.kind for item in batch).items():
            metrics.PAGES.labels(kind, outcome).inc(count)

    def _export(self, partitions: list[int], items: list[Outgoing]) -> None:
        open_tasks = self.index.open_by_level(partitions)
        for level in LEVELS:
            metrics.OPEN_TASKS.labels(level).set(open_tasks.get(level, 0))
        held = Counter((item.kind, "firing" if item.firing else "resolved") for item in items)
        for kind in logic.KINDS:
            for state in ("firing", "resolved"):
                metrics.PAGER_ALERTS.labels(kind, state).set(held.get((kind, state), 0))

    # --- Recovery and shutdown ---------------------------------------------------------------------

    async def rebuild(self) -> None:
        """After recovery: the index and the purge schedule hold exactly the active partitions' tasks."""
        states = [(task_id, logic.PagerTask.from_dict(value)) for task_id, value in self.table.items()]
        self.index.replace_all(states)
        self.purges.replace_all((task_id, logic.purge_at(state, self.config)) for task_id, state in states)
        log.info("pager: index rebuilt, %d tasks with alerts to push", len(self.index))

    async def on_shutdown(self, app: Any, /, *args: Any, signal: Any = None, **_: Any) -> None:
        """Close the HTTP session."""
        await self.client.close()
