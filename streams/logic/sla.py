"""The SLA state machine of one task (issue 5 groundwork). Pure: no Kafka, no clock of its own.

Steps are due a policy allowance after they start: reception, dispatch and verification start at task
creation; each feedback cycle starts at task creation (cycle 1) or at its REFEEDBACK_REQUESTED.
Only the first event of a step counts. An event that implies earlier steps (VERIFIED before
DISPATCHED) completes them at the same time, marked implied. Time comes in as `now` (wall clock in
live mode, stream time in replay), so the same inputs always give the same events.

Thresholds fire strictly after their time (`now > t`): a step completed exactly at its due time is
MET, never BREACHED.

Every threshold that passed before an event occurred fires before that event is applied, whether or
not a timer tick saw it first. So a step completed late always has BREACHED (and its warnings) before
MET_LATE, and the set of SLA events is the same whatever the interleaving of ticks and events.
Detection times come from the clock (`streams/clock.py`): wall clock live, threshold + 1 ms in replay.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from streams.clock import Clock
from streams.logic.sla_policy import Policy, Rule

STEPS = ("reception", "dispatch", "verification")
FEEDBACK = "feedback"
COMPLETES = {
    "RECEIVED": "reception",
    "DISPATCHED": "dispatch",
    "VERIFIED": "verification",
    "FEEDBACK": FEEDBACK,
}
ORDER = (*STEPS, FEEDBACK)
WARNING_KINDS = ("AT_RISK_50", "AT_RISK_75")


@dataclass
class StepClock:
    """One step (or feedback cycle): when it started, is due, completed, and what was emitted."""

    started_at: int
    due_at: int
    completed_at: int | None = None
    implied: bool = False
    emitted: list[str] = field(default_factory=list)


@dataclass
class TaskSla:
    """Everything the SLA stage keeps for one task (a JSON-able dict in the table)."""

    task_id: str
    version: int
    created_at: int
    level: str
    station_code: str
    region_code: str
    fraud_type: str
    sources: list[str]
    rule: str
    warn_at: list[float]
    feedback_allowance_ms: int
    steps: dict[str, StepClock]
    feedback: list[StepClock]
    closed_at: int | None = None
    reopened_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The table value."""
        return asdict(self)

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> TaskSla:
        """A state from its table value."""
        steps = {name: StepClock(**clock) for name, clock in value["steps"].items()}
        feedback = [StepClock(**clock) for clock in value["feedback"]]
        return cls(**{**value, "steps": steps, "feedback": feedback})


def start(task: dict[str, Any], policy: Policy) -> TaskSla:
    """The SLA state of a new task: every step's clock starts at creation."""
    rule = policy.rule_for(task)
    created = int(task["created_at"])
    return TaskSla(
        task_id=task["task_id"],
        version=int(task["version"]),
        created_at=created,
        level=task["level"],
        station_code=task["station_code"],
        region_code=task["region_code"],
        fraud_type=task["fraud_type"],
        sources=list(task["sources"]),
        rule=rule.name,
        warn_at=list(rule.warn_at),
        feedback_allowance_ms=rule.due_ms[FEEDBACK],
        steps={step: StepClock(created, created + rule.due_ms[step]) for step in STEPS},
        feedback=[StepClock(created, created + rule.due_ms[FEEDBACK])],
    )


def on_task_version(sla: TaskSla, task: dict[str, Any], policy: Policy) -> None:
    """Apply a later version of the task: a stricter rule shortens open deadlines, never extends them.

    A CLOSED version closes the clocks unless a re-feedback request came after its closure (the
    closure is then stale: the dedup stage reopens the task when it sees the same request).
    """
    if int(task["version"]) <= sla.version:
        return
    sla.version = int(task["version"])
    sla.level, sla.sources = task["level"], list(task["sources"])
    if task.get("status") == "CLOSED" and sla.closed_at is None:
        closed_at = int(task.get("closed_at") or task["updated_at"])
        if sla.reopened_at is None or closed_at >= sla.reopened_at:
            sla.closed_at = closed_at
    rule = policy.rule_for(task)
    for name, clock in _open_clocks(sla):
        stricter = clock.started_at + rule.due_ms[FEEDBACK if name == FEEDBACK else name]
        clock.due_at = min(clock.due_at, stricter)
    sla.feedback_allowance_ms = min(sla.feedback_allowance_ms, rule.due_ms[FEEDBACK])


def on_event(sla: TaskSla, event: dict[str, Any], now: int, clock: Clock) -> list[dict[str, Any]]:
    """Apply one task event; returns the SLA events it causes.

    Thresholds passed before the event occurred fire first (AT_RISK_*, BREACHED), then the step's
    MET or MET_LATE.
    """
    kind, at = event["type"], int(event["occurred_at"])
    emitted = _fire(sla, before=at, now=now, clock=clock)
    if kind == "CLOSED":
        sla.closed_at = sla.closed_at or at
        return emitted
    if kind == "REFEEDBACK_REQUESTED":
        current = sla.feedback[-1]
        # A request opens a cycle once the current one is fed back; a repeat of the request that
        # opened the current cycle (same time or older: a re-delivery) opens nothing.
        if current.completed_at is not None and (len(sla.feedback) == 1 or at > current.started_at):
            sla.closed_at, sla.reopened_at = None, at
            sla.feedback.append(StepClock(at, at + sla.feedback_allowance_ms))
        return emitted
    step = COMPLETES.get(kind)
    if step is None:
        return emitted
    detected = clock.detected_at(at, now)
    for earlier in ORDER[: ORDER.index(step)]:
        if earlier != FEEDBACK:
            emitted += _complete(sla, earlier, sla.steps[earlier], 1, at, detected, implied=True)
    clock_, cycle = (sla.feedback[-1], len(sla.feedback)) if step == FEEDBACK else (sla.steps[step], 1)
    return emitted + _complete(sla, step, clock_, cycle, at, detected, implied=False)


def on_tick(sla: TaskSla, now: int, clock: Clock) -> list[dict[str, Any]]:
    """Check the open deadlines at `now`; returns the AT_RISK_50, AT_RISK_75 and BREACHED events due."""
    return _fire(sla, before=now, now=now, clock=clock)


def _fire(sla: TaskSla, before: int, now: int, clock: Clock) -> list[dict[str, Any]]:
    """Emit every threshold strictly before `before` that has not fired yet."""
    if sla.closed_at is not None:
        return []
    emitted = []
    for name, step_clock in _open_clocks(sla):
        cycle = len(sla.feedback) if name == FEEDBACK else 1
        for kind, threshold in _thresholds(sla, step_clock):
            if before > threshold and kind not in step_clock.emitted:
                step_clock.emitted.append(kind)
                detected = clock.detected_at(threshold + 1, now)
                emitted.append(_event(sla, name, cycle, kind, step_clock, detected))
    return emitted


def next_check_at(sla: TaskSla) -> int | None:
    """The earliest time a tick would emit something (for the timer), or None if nothing is pending."""
    if sla.closed_at is not None:
        return None
    pending = [
        threshold + 1
        for _, clock in _open_clocks(sla)
        for kind, threshold in _thresholds(sla, clock)
        if kind not in clock.emitted
    ]
    return min(pending, default=None)


def _open_clocks(sla: TaskSla) -> list[tuple[str, StepClock]]:
    clocks = [(name, clock) for name, clock in sla.steps.items() if clock.completed_at is None]
    if sla.feedback[-1].completed_at is None:
        clocks.append((FEEDBACK, sla.feedback[-1]))
    return clocks


def _thresholds(sla: TaskSla, clock: StepClock) -> list[tuple[str, int]]:
    allowance = clock.due_at - clock.started_at
    warnings = [
        (kind, clock.started_at + int(allowance * fraction))
        for kind, fraction in zip(WARNING_KINDS, sla.warn_at, strict=True)
    ]
    return [*warnings, ("BREACHED", clock.due_at)]


def _complete(
    sla: TaskSla, name: str, clock: StepClock, cycle: int, at: int, detected_at: int, implied: bool
) -> list[dict[str, Any]]:
    if clock.completed_at is not None:
        return []  # only the first event of a step counts
    clock.completed_at, clock.implied = at, implied
    kind = "MET" if at <= clock.due_at else "MET_LATE"
    clock.emitted.append(kind)
    return [_event(sla, name, cycle, kind, clock, detected_at)]


def _event(
    sla: TaskSla, step: str, cycle: int, kind: str, clock: StepClock, detected_at: int
) -> dict[str, Any]:
    completed = kind in ("MET", "MET_LATE") and clock.completed_at is not None
    reference = clock.completed_at if completed and clock.completed_at is not None else detected_at
    return {
        "event_id": f"{sla.task_id}:{step}:{cycle}:{kind}",
        "task_id": sla.task_id,
        "step": step.upper(),
        "cycle": cycle,
        "kind": kind,
        "due_at": clock.due_at,
        "detected_at": detected_at,
        "completed_at": clock.completed_at,
        "implied": clock.implied,
        "overdue_by_ms": max(0, reference - clock.due_at),
        "level": sla.level,
        "station_code": sla.station_code,
        "region_code": sla.region_code,
        "fraud_type": sla.fraud_type,
        "sources": sla.sources,
    }


__all__ = ["Rule", "TaskSla", "next_check_at", "on_event", "on_task_version", "on_tick", "start"]
