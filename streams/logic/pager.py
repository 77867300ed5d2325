"""What the pager keeps per task, and what each input does to it. Pure: no Kafka, no HTTP.

The pager stage reads `tasks` and `sla.events` (both keyed by task id, so co-partitioned) and keeps one
table value per task: the task's latest version, status, level and masked name, the steps it saw
completed, and the alerts it wants Alertmanager to hold (the desired state). It never talks to
Alertmanager itself: a timer pushes that desired state (`streams/logic/pager_push.py`).

One alert per task, step, feedback cycle and kind (`breach` or `at_risk`), so a re-delivered or
re-emitted SLA event never opens a second one. An alert is:
- `firing` from its SLA event until it is resolved;
- `resolved` (final) when its step completes (MET, MET_LATE), when a breach supersedes an at-risk
  warning, or when the task closes. A resolved alert never fires again, whatever arrives later;
- `suppressed` when its SLA event arrives after the pager already saw the task closed: the breach
  happened before the closure (the two topics are read side by side) and nobody needs a page for a
  closed task. If the task is then reopened (二次反馈), the newest feedback cycle's suppressed alerts
  fire: they belong to the reopened task.

Times here (`now`) are the pager's wall clock in ms: they decide when entries are purged, not what the
SLA was.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from typing import Any

BREACH = "breach"
AT_RISK = "at_risk"
KINDS = (BREACH, AT_RISK)
ALERT_NAMES = {BREACH: "RiskAlertSlaBreach", AT_RISK: "RiskAlertSlaAtRisk"}
SEVERITIES = {BREACH: "page", AT_RISK: "warning"}

FIRING = "firing"
RESOLVED = "resolved"
SUPPRESSED = "suppressed"

OPEN = "OPEN"
CLOSED = "CLOSED"
FEEDBACK = "feedback"


@dataclass(frozen=True)
class PagerConfig:
    """What the pager pages for, and how long it keeps entries (ms of the pager's wall clock).

    Attributes:
        at_risk_levels: task levels whose at-risk warnings are paged (as RiskAlertSlaAtRisk).
        at_risk_kind: the SLA event kind that opens an at-risk alert.
        region: the `region` label of every alert; None: each task's own region code.
        resolved_retention_ms: how long a closed task without firing alerts is kept, after its last
            change; its resolutions are pushed meanwhile, and stale SLA events of the closed task that
            arrive meanwhile are recognised as such.
        idle_retention_ms: how long an open task without firing alerts (or a task whose version never
            arrived) is kept after its last input.
    """

    at_risk_levels: frozenset[str] = frozenset({"CRITICAL", "HIGH"})
    at_risk_kind: str = "AT_RISK_75"
    region: str | None = None
    resolved_retention_ms: int = 3_600_000
    idle_retention_ms: int = 30 * 86_400_000


@dataclass
class PagerAlert:
    """One alert the pager wants Alertmanager to hold. Labels never change once it is opened."""

    kind: str
    step: str
    cycle: int
    level: str
    station: str
    region: str
    due_at: int
    sources: list[str]
    starts_at: int
    state: str
    changed_at: int
    resolved_by: str | None = None

    @property
    def clock(self) -> str:
        """The step clock the alert is about: `step:cycle`."""
        return f"{self.step}:{self.cycle}"


@dataclass
class PagerTask:
    """The pager table's value for one task."""

    version: int = 0
    status: str | None = None
    level: str | None = None
    masked_name: str | None = None
    closed_seen_at: int | None = None
    done: list[str] = field(default_factory=list)
    alerts: dict[str, PagerAlert] = field(default_factory=dict)
    last_input_at: int = 0

    @property
    def known(self) -> bool:
        """Whether a version of the task has been seen (so its masked name is known)."""
        return self.version > 0

    @property
    def is_open(self) -> bool:
        """Open as far as the pager knows: seen, and its latest version is not CLOSED."""
        return self.known and self.status != CLOSED

    def firing(self) -> list[PagerAlert]:
        """The alerts firing now."""
        return [alert for alert in self.alerts.values() if alert.state == FIRING]

    def to_dict(self) -> dict[str, Any]:
        """The table value (JSON-able)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> PagerTask:
        """A state from its table value (None: a task not seen yet)."""
        if not value:
            return cls()
        alerts = {key: PagerAlert(**alert) for key, alert in value["alerts"].items()}
        return cls(**{**value, "done": list(value["done"]), "alerts": alerts})


def alert_key(kind: str, step: str, cycle: int) -> str:
    """The alert's key within its task: one alert per kind, step and cycle."""
    return f"{kind}:{step}:{cycle}"


def task_key(task_id: str, step: str, cycle: int) -> str:
    """The `task_key` label: an opaque 16-hex-digit hash of task, step and cycle.

    It keeps two tasks' alerts apart in one notification group and ties a breach to the at-risk
    warning it mutes (both have the same task_key). It is a one-way hash, so labels carry no task id;
    it needs no key, so every worker (and a replacement after a rebalance) computes the same label.
    """
    digest = hashlib.sha256(f"riskalert-pager:{task_id}:{step}:{cycle}".encode()).hexdigest()
    return digest[:16]


def on_task(state: PagerTask, task: dict[str, Any], now: int) -> None:
    """A task version: learn its status, level and masked name; a closure resolves its alerts.

    Versions older than (or equal to) the latest seen are ignored, so re-deliveries change nothing.
    A reopened task (OPEN after CLOSED) fires its newest feedback cycle's suppressed alerts.
    """
    state.last_input_at = now
    if int(task["version"]) <= state.version:
        return
    was_closed = state.status == CLOSED
    state.version, state.status, state.level = int(task["version"]), task["status"], task["level"]
    state.masked_name = task.get("masked_name")
    if state.status == CLOSED and not was_closed:
        state.closed_seen_at = now
        for alert in state.firing():
            _resolve(alert, CLOSED, now)
    elif state.status != CLOSED and was_closed:
        state.closed_seen_at = None
        _fire_reopened(state, now)


def on_sla_event(state: PagerTask, event: dict[str, Any], now: int, config: PagerConfig) -> None:
    """An SLA event: open, supersede or resolve the alerts of its step and cycle."""
    state.last_input_at = now
    step, cycle, kind = str(event["step"]).lower(), int(event["cycle"]), event["kind"]
    if kind in ("MET", "MET_LATE"):
        clock = f"{step}:{cycle}"
        if clock not in state.done:
            state.done.append(clock)
        for alert_kind in KINDS:
            _resolve_key(state, alert_key(alert_kind, step, cycle), kind, now)
    elif kind == "BREACHED":
        _resolve_key(state, alert_key(AT_RISK, step, cycle), kind, now)
        _open(state, BREACH, step, cycle, event, now, config)
    elif (
        kind == config.at_risk_kind
        and event["level"] in config.at_risk_levels
        and alert_key(BREACH, step, cycle) not in state.alerts  # a breach supersedes the warning
    ):
        _open(state, AT_RISK, step, cycle, event, now, config)


def purge_at(state: PagerTask, config: PagerConfig) -> int | None:
    """When the task's entry may be deleted (None: not while it has firing alerts).

    A closed task goes a retention period after its last change: its resolutions are pushed
    meanwhile, and after that Alertmanager would resolve the alerts anyway (their `endsAt` lapses
    when nobody re-pushes them). An open task without firing alerts, and a task whose version never
    arrived, go after a long idle period.
    """
    if not state.known:
        return state.last_input_at + config.idle_retention_ms
    if state.firing():
        return None
    if state.status == CLOSED:
        changes = [state.closed_seen_at or 0, *(alert.changed_at for alert in state.alerts.values())]
        return max(changes) + config.resolved_retention_ms
    return state.last_input_at + config.idle_retention_ms


def _open(
    state: PagerTask, kind: str, step: str, cycle: int, event: dict[str, Any], now: int, config: PagerConfig
) -> None:
    key = alert_key(kind, step, cycle)
    if key in state.alerts or f"{step}:{cycle}" in state.done:
        return  # one alert per task, step, cycle and kind; a completed step pages no more
    state.alerts[key] = PagerAlert(
        kind=kind,
        step=step,
        cycle=cycle,
        level=str(event["level"]),
        station=str(event["station_code"]),
        region=config.region or str(event["region_code"]),
        due_at=int(event["due_at"]),
        sources=[str(source) for source in event["sources"]],
        starts_at=int(event["detected_at"]),
        state=SUPPRESSED if state.status == CLOSED else FIRING,
        changed_at=now,
    )


def _resolve_key(state: PagerTask, key: str, reason: str, now: int) -> None:
    alert = state.alerts.get(key)
    if alert is not None:
        _resolve(alert, reason, now)


def _resolve(alert: PagerAlert, reason: str, now: int) -> None:
    if alert.resolved_by is not None:
        return
    alert.resolved_by = reason
    if alert.state == FIRING:
        alert.state, alert.changed_at = RESOLVED, now


def _fire_reopened(state: PagerTask, now: int) -> None:
    """Fire the newest feedback cycle's alerts that arrived while the task looked closed."""
    waiting = [
        alert
        for alert in state.alerts.values()
        if alert.state == SUPPRESSED and alert.resolved_by is None and alert.step == FEEDBACK
    ]
    newest = max((alert.cycle for alert in waiting), default=1)
    for alert in waiting:
        if alert.cycle == newest and newest > 1 and alert.clock not in state.done:
            alert.state, alert.changed_at = FIRING, now
