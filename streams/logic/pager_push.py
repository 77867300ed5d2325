"""How the pager's timer pushes the desired alert state to Alertmanager. Pure: no Kafka, no HTTP.

- `PagerIndex` is an in-memory cache of the pager table: per partition, the tasks that have alerts to
  push, and the level of every open task (for the open-tasks gauge). The agent updates it on every
  write; it is rebuilt from the table (active partitions) after each recovery. The timer only reads it.
- `Delivery` is the timer's own bookkeeping, in memory only: which revision of each alert Alertmanager
  accepted and when, and the backoff after a failed push. Losing it (a restart, a rebalance) costs one
  extra push of every alert, which Alertmanager deduplicates by labels.
- `render` turns an alert into Alertmanager's v2 API JSON.

An alert is pushed when Alertmanager has not accepted its current revision (new, resolved, or its
task's masked name learnt since), and a firing alert again every resend interval: a firing alert is
sent with `endsAt` a few intervals ahead (`ttl_ms`), so Alertmanager resolves it by itself if the
pager stops refreshing it (the worker is gone and nobody took its partitions over). A resolution is
pushed until Alertmanager accepts it once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from streams.logic.pager import (
    ALERT_NAMES,
    BREACH,
    FIRING,
    RESOLVED,
    SEVERITIES,
    PagerAlert,
    PagerTask,
    task_key,
)

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
RUNBOOKS = {name: f"docs/alerts.md#{alertname.lower()}" for name, alertname in ALERT_NAMES.items()}
GRAFANA_TASK_VIEW = "/d/riskalert-ops/riskalert-ops?var-task_id={task_id}"


@dataclass(frozen=True)
class PushConfig:
    """The timer's timing, in ms.

    Attributes:
        resend_ms: how often a firing alert is pushed again.
        ttl_ms: how far ahead of each push a firing alert's `endsAt` lies.
        retry_base_ms: the first wait after a failed push; it doubles per failure.
        retry_max_ms: the longest wait between failed pushes.
        unknown_task_grace_ms: how long an alert of a task whose version has not arrived yet waits for
            its masked name before it is pushed without one.
    """

    resend_ms: int = 60_000
    ttl_ms: int = 240_000
    retry_base_ms: int = 500
    retry_max_ms: int = 30_000
    unknown_task_grace_ms: int = 5_000


@dataclass(frozen=True)
class Outgoing:
    """One alert to push: its identity, revision and what its delivery counts as."""

    alert_id: str
    revision: str
    kind: str
    firing: bool
    task_id: str
    task: PagerTask
    alert: PagerAlert


class PagerIndex:
    """Per partition: tasks with alerts to push, and open tasks' levels. A cache of the pager table."""

    def __init__(self, partition_of: Callable[[str], int]) -> None:
        self._partition_of = partition_of
        self._pushable: dict[int, dict[str, PagerTask]] = {}
        self._open: dict[int, dict[str, str]] = {}

    def put(self, task_id: str, state: PagerTask | None) -> None:
        """Record a task's state as written to the table (None: purged)."""
        partition = self._partition_of(task_id)
        pushable, open_levels = self._pushable.setdefault(partition, {}), self._open.setdefault(partition, {})
        if state is not None and any(a.state in (FIRING, RESOLVED) for a in state.alerts.values()):
            pushable[task_id] = state
        else:
            pushable.pop(task_id, None)
        if state is not None and state.is_open:
            open_levels[task_id] = state.level or "UNKNOWN"
        else:
            open_levels.pop(task_id, None)

    def tasks(self, partition: int) -> Iterator[tuple[str, PagerTask]]:
        """The partition's tasks with alerts to push (a snapshot: safe while the agent writes)."""
        yield from list(self._pushable.get(partition, {}).items())

    def open_by_level(self, partitions: Iterable[int]) -> Counter[str]:
        """Open tasks per level on these partitions."""
        return Counter(level for p in partitions for level in self._open.get(p, {}).values())

    def replace_all(self, entries: Iterable[tuple[str, PagerTask]]) -> None:
        """Rebuild from the table's (task_id, state) pairs, e.g. after a rebalance."""
        self._pushable.clear()
        self._open.clear()
        for task_id, state in entries:
            self.put(task_id, state)

    def __len__(self) -> int:
        return sum(len(tasks) for tasks in self._pushable.values())


def outgoing(task_id: str, task: PagerTask) -> list[Outgoing]:
    """The task's alerts that Alertmanager should hold (firing) or hear resolved."""
    return [
        Outgoing(
            alert_id=f"{task_id}:{key}",
            revision=f"{alert.state}:{alert.changed_at}:{task.masked_name is not None}",
            kind=alert.kind,
            firing=alert.state == FIRING,
            task_id=task_id,
            task=task,
            alert=alert,
        )
        for key, alert in task.alerts.items()
        if alert.state in (FIRING, RESOLVED)
    ]


class Delivery:
    """What Alertmanager has accepted (in memory), and the backoff after failures."""

    def __init__(self, config: PushConfig) -> None:
        self.config = config
        self._accepted: dict[str, tuple[str, int]] = {}
        self.failures = 0
        self.retry_at = 0

    def ready(self, now: int) -> bool:
        """Whether a push may be tried now (not backing off after a failure)."""
        return now >= self.retry_at

    def due(self, item: Outgoing, now: int) -> bool:
        """Whether the alert needs a push now."""
        grace_until = item.alert.changed_at + self.config.unknown_task_grace_ms
        if item.firing and not item.task.known and now < grace_until:
            return False  # its task (masked name, closure) is probably a moment behind
        accepted = self._accepted.get(item.alert_id)
        if accepted is None or accepted[0] != item.revision:
            return True
        return item.firing and now - accepted[1] >= self.config.resend_ms

    def outcome(self, item: Outgoing) -> str:
        """What an accepted push of this alert counts as: sent, refreshed or resolved."""
        if not item.firing:
            return "resolved"
        return "refreshed" if item.alert_id in self._accepted else "sent"

    def accepted(self, items: Iterable[Outgoing], now: int) -> None:
        """Alertmanager accepted these alerts: remember their revision; failures are over."""
        for item in items:
            self._accepted[item.alert_id] = (item.revision, now)
        self.failures, self.retry_at = 0, 0

    def failed(self, now: int) -> int:
        """A push failed: back off exponentially. Returns the wait in ms."""
        self.failures += 1
        wait = min(self.config.retry_max_ms, self.config.retry_base_ms * 2 ** min(self.failures - 1, 30))
        wait = int(wait)
        self.retry_at = now + wait
        return wait

    def forget_except(self, alert_ids: set[str]) -> None:
        """Drop the bookkeeping of alerts that are no longer in the index (purged or moved away)."""
        for alert_id in [alert_id for alert_id in self._accepted if alert_id not in alert_ids]:
            del self._accepted[alert_id]

    def __len__(self) -> int:
        return len(self._accepted)


def render(item: Outgoing, now: int, config: PushConfig, grafana_url: str | None) -> dict[str, Any]:
    """The alert as Alertmanager's v2 API takes it (`POST /api/v2/alerts`).

    Labels carry no person data and no task id (only the opaque `task_key`); annotations carry the
    task id, the masked name and the link to the task's dashboard.
    """
    alert = item.alert
    link = grafana_task_url(grafana_url, item.task_id)
    labels = {
        "alertname": ALERT_NAMES[alert.kind],
        "severity": SEVERITIES[alert.kind],
        "level": alert.level,
        "station": alert.station,
        "region": alert.region,
        "step": alert.step,
        "task_key": task_key(item.task_id, alert.step, alert.cycle),
    }
    ends_at = now + config.ttl_ms if item.firing else max(alert.changed_at, alert.starts_at)
    rendered = {
        "labels": labels,
        "annotations": _annotations(item, now, link),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(ends_at),
    }
    if link is not None:
        rendered["generatorURL"] = link
    return rendered


def _annotations(item: Outgoing, now: int, link: str | None) -> dict[str, str]:
    alert, task = item.alert, item.task
    masked_name = task.masked_name or "(unknown)"
    step = alert.step if alert.cycle == 1 else f"{alert.step} (cycle {alert.cycle})"
    if alert.kind == BREACH:
        until = now if item.firing else alert.changed_at
        overdue = duration(max(0, until - alert.due_at))
        due = local_time(alert.due_at)
        summary = f"task {item.task_id} ({masked_name}): {step} overdue by {overdue}, due {due}"
    else:
        overdue = duration(0)
        summary = f"task {item.task_id} ({masked_name}): {step} due {local_time(alert.due_at)}, at risk"
    annotations = {
        "summary": summary,
        "task_id": item.task_id,
        "masked_name": masked_name,
        "due_at": local_time(alert.due_at),
        "overdue_by": overdue,
        "sources": ",".join(alert.sources),
        "runbook": RUNBOOKS[alert.kind],
    }
    if alert.cycle > 1:
        annotations["feedback_cycle"] = str(alert.cycle)
    if link is not None:
        annotations["dashboard"] = link
    return annotations


def grafana_task_url(base: str | None, task_id: str) -> str | None:
    """The task's view on the riskalert-ops Grafana dashboard (None without a Grafana URL)."""
    if not base:
        return None
    return base.rstrip("/") + GRAFANA_TASK_VIEW.format(task_id=task_id)


def rfc3339(epoch_ms: int) -> str:
    """UTC RFC 3339 with milliseconds, as Alertmanager's API takes times."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def local_time(epoch_ms: int) -> str:
    """A time for people on duty: Beijing time, to the second, e.g. `2025-03-01 09:05:07 +08:00`."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, SHANGHAI)
    return moment.strftime("%Y-%m-%d %H:%M:%S +08:00")


def duration(ms: int) -> str:
    """A duration to the second, e.g. `45s`, `2m05s`, `3h02m05s`."""
    seconds = ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{seconds:02d}s"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"
