"""Task events addressed by warning (alert_ref) resolved to their task. Pure: no Kafka, no clock.

The resolver reads `alerts.index` (the dedup stage's verdict per warning: alert key -> task id),
`tasks.events.by_ref` (events an ops system reported against a warning) and `resolver.ticks` (timer
commands), all keyed by alert key, and keeps one `RefState` per alert key:
- the task the warning belongs to, bound by the first verdict and never re-pointed: every verdict of a
  warning names the task of its first delivery (a duplicate's too), so a later verdict naming another
  task can only come from a re-delivery the dedup stage no longer remembered (older than its duplicate
  retention); the station's reports are about the task it was working, so the first binding stays;
- events that arrived before the verdict, held for a grace period in arrival order, then either
  forwarded in that order when the verdict arrives, or dead-lettered as `unknown_alert_ref`;
- when the entry may be purged (a retention after the binding);
- the outputs of recent inputs that changed the state, by Kafka position, re-emitted unchanged when
  such an input is processed again after a restart (the SLA stage's rule, `streams/logic/tasks.py`).

A forwarded event gets `task_id` and its final `event_id` (`streams/logic/event_ids.py`), and keeps its
`alert_ref`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from streams.logic import replay
from streams.logic.event_ids import event_id_of
from streams.logic.tasks import Held, Rejected

# Held events per unknown reference: enough for any real sequence; more is a misaddressed stream.
MAX_HELD_EVENTS = 100
# Inputs per reference whose outputs are remembered for re-emission (committed ones are dropped).
MAX_REMEMBERED_INPUTS = 16
UNKNOWN_REF = "unknown_alert_ref"
TOO_MANY_HELD = "too_many_held"


@dataclass(frozen=True)
class ResolverConfig:
    """The resolver's windows, in ms of wall-clock time.

    Attributes:
        grace_ms: how long an event waits for its warning's verdict before it is dead-lettered.
        retention_ms: how long a binding is kept after it was made.
    """

    grace_ms: int
    retention_ms: int


@dataclass
class RefOutputs:
    """What one input produced.

    Attributes:
        forwarded: TaskEvents resolved to their task, in order, for `tasks.events`.
        released: how many of them had been held.
        rejected: events given up on, with the reason.
        conflict: a verdict named another task than the bound one (ignored, counted).
        purge: the entry is to be deleted.
    """

    forwarded: list[dict[str, Any]] = field(default_factory=list)
    released: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    conflict: bool = False
    purge: bool = False

    def __bool__(self) -> bool:
        return bool(self.forwarded or self.rejected)

    def to_dict(self) -> dict[str, Any]:
        """What is remembered for a re-emission (JSON-able)."""
        return {
            "forwarded": self.forwarded,
            "released": self.released,
            "rejected": [rejected.to_dict() for rejected in self.rejected],
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any]) -> RefOutputs:
        """Outputs remembered by `to_dict`."""
        rejected = [Rejected.from_dict(r) for r in value["rejected"]]
        return cls(list(value["forwarded"]), int(value["released"]), rejected)


@dataclass
class RefState:
    """The resolver's table value for one alert key."""

    task_id: str | None = None
    bound_at: int | None = None
    held: list[Held] = field(default_factory=list)
    hold_until: int | None = None
    purge_at: int | None = None
    recent: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The table value (JSON-able)."""
        return {
            "task_id": self.task_id,
            "bound_at": self.bound_at,
            "held": [asdict(held) for held in self.held],
            "hold_until": self.hold_until,
            "purge_at": self.purge_at,
            "recent": self.recent,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> RefState:
        """A state from its table value (None: an alert key not seen yet)."""
        if not value:
            return cls()
        return cls(
            task_id=value["task_id"],
            bound_at=value["bound_at"],
            held=[Held(**held) for held in value["held"]],
            hold_until=value["hold_until"],
            purge_at=value["purge_at"],
            recent=dict(value["recent"]),
        )


def resolved(event: dict[str, Any], task_id: str) -> dict[str, Any]:
    """The event addressed to its task: `task_id` set and the final event id, `alert_ref` kept."""
    return {**event, "task_id": task_id, "event_id": event_id_of(event, task_id)}


def on_verdict(state: RefState, verdict: dict[str, Any], now: int, config: ResolverConfig) -> RefOutputs:
    """A warning's verdict: bind the reference to its task (first verdict wins) and release held events.

    Args:
        state: the reference's state (mutated).
        verdict: an AlertVerdict record.
        now: wall-clock ms.
        config: the windows.
    """
    out = RefOutputs()
    task_id = str(verdict["task_id"])
    if state.task_id is not None:
        out.conflict = task_id != state.task_id
        return out
    state.task_id, state.bound_at = task_id, now
    state.purge_at = now + config.retention_ms
    held, state.held, state.hold_until = state.held, [], None
    out.forwarded = [resolved(waiting.event, task_id) for waiting in held]
    out.released = len(held)
    return out


def on_event(state: RefState, held: Held, now: int, config: ResolverConfig) -> RefOutputs:
    """An event addressed by this reference: forward it to its task, or hold it until the verdict.

    An event already held from the same position (processed again after a restart) is held once.
    """
    if state.task_id is not None:
        return RefOutputs(forwarded=[resolved(held.event, state.task_id)])
    out = RefOutputs()
    if any(_same_position(waiting, held) for waiting in state.held):
        return out
    if len(state.held) >= MAX_HELD_EVENTS:
        error = f"alert ref {_alert_key(held)}: {MAX_HELD_EVENTS} events already held for it"
        out.rejected.append(Rejected(held, TOO_MANY_HELD, error))
        return out
    state.held.append(held)
    if state.hold_until is None:
        state.hold_until = now + config.grace_ms
    state.purge_at = None
    return out


def on_check(state: RefState, now: int, config: ResolverConfig) -> RefOutputs:
    """A timer's check command: dead-letter held events whose grace passed, or purge the entry."""
    out = RefOutputs()
    if state.task_id is None and state.hold_until is not None and now >= state.hold_until:
        out.rejected = [_unknown(waiting, config) for waiting in state.held]
        state.held, state.hold_until = [], None
        # A tombstone for one more grace period, so a restart can re-emit the dead letters.
        state.purge_at = now + config.grace_ms
    elif state.purge_at is not None and now >= state.purge_at and not state.held:
        out.purge = True
    return out


def next_check_at(state: RefState) -> int | None:
    """When the timer should next send a check for this reference (None: nothing pending)."""
    return min((t for t in (state.hold_until, state.purge_at) if t is not None), default=None)


def replayed(state: RefState, position: str) -> RefOutputs | None:
    """The outputs an input produced the first time, if it is being processed again after a restart."""
    remembered = replay.recall(state.recent, position)
    return RefOutputs.from_dict(remembered) if remembered is not None else None


def remember(
    state: RefState, position: str, out: RefOutputs, committed: Callable[[str], bool] = lambda _: False
) -> None:
    """Keep the outputs of an input that changed the state; forget inputs whose offsets are committed.

    Args:
        state: the reference's state.
        position: the input's `topic:partition:offset`.
        out: what the input produced (nothing is kept for an input that produced nothing).
        committed: whether a position's offset is committed (it will never be processed again).
    """
    replay.keep(state.recent, position, out.to_dict() if out else None, MAX_REMEMBERED_INPUTS, committed)


def _same_position(first: Held, second: Held) -> bool:
    return (first.topic, first.partition, first.offset) == (second.topic, second.partition, second.offset)


def _alert_key(held: Held) -> str:
    ref = held.event["alert_ref"]
    return f"{ref['source']}:{ref['source_alert_id']}"


def _unknown(held: Held, config: ResolverConfig) -> Rejected:
    seconds = config.grace_ms / 1000
    error = (
        f"alert ref {_alert_key(held)} not resolved within the {seconds:g} s grace period: no warning with "
        "this source and source_alert_id reached the dedup stage"
    )
    return Rejected(held, UNKNOWN_REF, error)
