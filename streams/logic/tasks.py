"""What the SLA stage keeps per task, and what each input does to it. Pure: no Kafka.

The SLA stage reads `tasks`, `tasks.events` and `sla.ticks`, all keyed by task id. Per task it keeps:
- the task's person (`owner`), so lifecycle facts (feedback, closure, re-feedback) reach the dedup
  stage on the person's partition;
- the SLA clocks (`streams/logic/sla.py`);
- events that arrived before their task, held for a grace period and then dead-lettered;
- when the entry may be purged: a while after the task's clocks all stopped;
- the outputs of its most recent inputs, by Kafka position.

Crash safety: outputs and the table's changelog are separate Kafka writes, and a kill -9 can keep
either without the other. When an input is processed again after a restart (same topic, partition
and offset), its remembered outputs are emitted again instead of being recomputed from a state that
may already include them. So no SLA event is lost; a re-emission carries the same deterministic
event id, and every consumer keeps one row per id.

Every function returns an `Outputs`; the agent emits them and writes the state back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from streams.clock import Clock
from streams.logic import replay
from streams.logic import sla as sla_logic
from streams.logic.lifecycle import task_fact
from streams.logic.sla_policy import Policy

# Held events per unknown task: enough for any real sequence; more is a misaddressed stream.
MAX_HELD_EVENTS = 100
# Inputs per task whose outputs are remembered for re-emission. Entries whose offsets are committed
# are dropped as the task is next written, so this cap only bounds a task flooded between two commits.
MAX_REMEMBERED_INPUTS = 64


@dataclass(frozen=True)
class Held:
    """An event waiting for its task, with where it came from (for the dead letter if it never does)."""

    event: dict[str, Any]
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Rejected:
    """An event the stage gives up on, with a reason code and a message naming the task."""

    held: Held
    reason: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-able, for the outputs a stage remembers for a re-emission."""
        return {"held": asdict(self.held), "reason": self.reason, "error": self.error}

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Rejected:
        """A rejection remembered by `to_dict`."""
        return cls(Held(**value["held"]), value["reason"], value["error"])


@dataclass
class Outputs:
    """What one input produced."""

    person_facts: list[dict[str, Any]] = field(default_factory=list)
    sla_events: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    purge: bool = False

    def extend(self, other: Outputs) -> None:
        """Append another input's outputs (held events replayed after their task)."""
        self.person_facts += other.person_facts
        self.sla_events += other.sla_events
        self.rejected += other.rejected

    def __bool__(self) -> bool:
        return bool(self.person_facts or self.sla_events or self.rejected)

    def to_dict(self) -> dict[str, Any]:
        """What is remembered for a re-emission (JSON-able)."""
        return {
            "person_facts": self.person_facts,
            "sla_events": self.sla_events,
            "rejected": [rejected.to_dict() for rejected in self.rejected],
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> Outputs:
        """Outputs remembered by `to_dict`."""
        rejected = [Rejected.from_dict(r) for r in value["rejected"]]
        return cls(list(value["person_facts"]), list(value["sla_events"]), rejected)


@dataclass
class TaskState:
    """The SLA stage's table value for one task."""

    owner: str | None = None
    sla: sla_logic.TaskSla | None = None
    held: list[Held] = field(default_factory=list)
    hold_until: int | None = None
    purge_at: int | None = None
    recent: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The table value (JSON-able)."""
        return {
            "owner": self.owner,
            "sla": self.sla.to_dict() if self.sla else None,
            "held": [asdict(held) for held in self.held],
            "hold_until": self.hold_until,
            "purge_at": self.purge_at,
            "recent": self.recent,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> TaskState:
        """A state from its table value (None: a task not seen yet)."""
        if not value:
            return cls()
        return cls(
            owner=value["owner"],
            sla=sla_logic.TaskSla.from_dict(value["sla"]) if value["sla"] else None,
            held=[Held(**held) for held in value["held"]],
            hold_until=value["hold_until"],
            purge_at=value["purge_at"],
            recent=dict(value.get("recent") or {}),
        )


@dataclass(frozen=True)
class StageConfig:
    """The SLA stage's windows, in ms of the clock's time."""

    unknown_task_grace_ms: int
    closed_retention_ms: int


def replayed(state: TaskState, position: str) -> Outputs | None:
    """The outputs an input produced the first time, if it is being processed again after a restart."""
    remembered = replay.recall(state.recent, position)
    return Outputs.from_dict(remembered) if remembered is not None else None


def remember(
    state: TaskState, position: str, out: Outputs, committed: Callable[[str], bool] = lambda _: False
) -> None:
    """Keep an input's outputs for re-emission; forget inputs whose offsets are committed.

    Args:
        state: the task's state.
        position: the input's `topic:partition:offset`.
        out: what the input produced (nothing is kept for an input that produced nothing).
        committed: whether a position's offset is committed (it will never be processed again).
    """
    replay.keep(state.recent, position, out.to_dict() if out else None, MAX_REMEMBERED_INPUTS, committed)


def owner_of(task: dict[str, Any]) -> str:
    """The dedup stage's state key for the task's person."""
    return str(task["person_key"] or f"anon:{task['first_alert_key']}")


def on_task(
    state: TaskState, task: dict[str, Any], policy: Policy, now: int, clock: Clock, config: StageConfig
) -> Outputs:
    """A task version: start or update the clocks, then apply any events that were waiting for it."""
    out = Outputs()
    if state.sla is None:
        state.owner = owner_of(task)
        state.sla = sla_logic.start(task, policy)
    else:
        # Thresholds passed before this version fire under the rule in force until it, as a tick would
        # have fired them: otherwise whether a tick came between them and a merge (timer timing, a
        # restart) decided the content (level, due time) of those SLA events.
        out.sla_events += sla_logic.on_tick(state.sla, now, clock)
    sla_logic.on_task_version(state.sla, task, policy)
    out.sla_events += sla_logic.on_tick(state.sla, now, clock)
    held, state.held, state.hold_until = state.held, [], None
    for waiting in held:
        out.extend(_apply(state, state.sla, waiting.event, now, clock))
    _schedule_purge(state, config)
    return out


def on_task_event(state: TaskState, held: Held, now: int, clock: Clock, config: StageConfig) -> Outputs:
    """A task event: apply it, or hold it while its task may still be in flight."""
    if state.sla is None:
        return _hold(state, held, now, config)
    out = _apply(state, state.sla, held.event, now, clock)
    _schedule_purge(state, config)
    return out


def on_check(state: TaskState, now: int, clock: Clock, config: StageConfig) -> Outputs:
    """A timer's check command: fire due thresholds, give up on held events, or purge."""
    out = Outputs()
    if state.sla is None:
        if state.hold_until is not None and now >= state.hold_until:
            # Keep a tombstone for one more grace period, so the dead letters can be re-emitted.
            out.rejected += [_unknown(held, config) for held in state.held]
            state.held, state.hold_until = [], None
            state.purge_at = now + config.unknown_task_grace_ms
        elif state.purge_at is not None and now >= state.purge_at:
            out.purge = True
        return out
    out.sla_events += sla_logic.on_tick(state.sla, now, clock)
    _schedule_purge(state, config)
    out.purge = state.purge_at is not None and now >= state.purge_at
    return out


def next_check_at(state: TaskState) -> int | None:
    """When the timer should next send a check for this task (None: nothing pending)."""
    times = [state.hold_until, state.purge_at]
    if state.sla is not None:
        times.append(sla_logic.next_check_at(state.sla))
    return min((t for t in times if t is not None), default=None)


def _apply(
    state: TaskState, sla: sla_logic.TaskSla, event: dict[str, Any], now: int, clock: Clock
) -> Outputs:
    out = Outputs(sla_events=sla_logic.on_event(sla, event, now, clock))
    fact = task_fact(event, state.owner or "")
    if fact is not None:
        out.person_facts.append(fact)
    return out


def _hold(state: TaskState, held: Held, now: int, config: StageConfig) -> Outputs:
    out = Outputs()
    if len(state.held) >= MAX_HELD_EVENTS:
        out.rejected.append(
            Rejected(
                held, "too_many_held", f"task {held.event['task_id']}: {MAX_HELD_EVENTS} events already held"
            )
        )
        return out
    state.held.append(held)
    if state.hold_until is None:
        state.hold_until = now + config.unknown_task_grace_ms
    return out


def _unknown(held: Held, config: StageConfig) -> Rejected:
    seconds = config.unknown_task_grace_ms / 1000
    return Rejected(
        held, "unknown_task", f"task {held.event['task_id']} not seen within the {seconds:g} s grace period"
    )


def _schedule_purge(state: TaskState, config: StageConfig) -> None:
    """Purge a task's entry a retention period after its last clock stopped; pending clocks keep it."""
    sla = state.sla
    if sla is None or sla_logic.next_check_at(sla) is not None:
        state.purge_at = None
        return
    stopped = [sla.closed_at, *(c.completed_at for c in sla.steps.values()), sla.feedback[-1].completed_at]
    last = max((t for t in stopped if t is not None), default=sla.created_at)
    state.purge_at = last + config.closed_retention_ms
