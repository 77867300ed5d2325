"""The dedup and enrichment rules: warnings in, one dissuasion task per case out. Pure: no Kafka.

All of a person's state lives in one `PersonState`, keyed by person key (or `anon:<alert_key>` for a
warning without a person identifier), so every update is one atomic table write. Time is event time:
windows are measured on `issued_at`, so a replay gives the same tasks whatever the wall clock says.

Crash safety: a warning's first Kafka position is remembered with its alert key. When the same record
(same partition and offset) is processed again after a restart, the current task is re-emitted
instead of being dropped as a duplicate, because the first emission may have been lost with the crash.
Downstream consumers keep the highest task version, so a re-emission is harmless.

Every warning also gets a verdict (`AlertVerdict`, published to `alerts.index` keyed by alert key): the
task it belongs to, the outcome and its position in `alerts.raw`. A duplicate's verdict names the task
of the warning's first delivery, never the person's current task: a re-delivered instruction is still
about the task it opened or joined, even when that task has closed and a newer one is open. A replay
repeats the first verdict exactly (outcome and decision time are kept with the alert key).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DAY_MS = 24 * 60 * 60 * 1000
HOUR_MS = 60 * 60 * 1000
LEVELS = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
# Outcomes that end a task; UNREACHABLE keeps it open because the station keeps trying.
FINAL_OUTCOMES = frozenset({"DISSUADED", "ALREADY_DEFRAUDED", "NO_RISK", "REFUSED"})


class Outcome(StrEnum):
    """What the dedup stage did with one warning."""

    NEW = "new"
    MERGED = "merged"
    DUPLICATE = "duplicate"
    REPLAYED = "replayed"


@dataclass(frozen=True)
class DedupConfig:
    """The dedup windows, in milliseconds of event time."""

    duplicate_retention_ms: int = 7 * DAY_MS
    merge_window_ms: int = 24 * HOUR_MS
    merge_window_ms_by_level: dict[str, int] = field(default_factory=dict)
    prior_warnings_lookback_ms: int = 90 * DAY_MS
    victimisation_window_ms: int = 30 * DAY_MS

    def merge_window_for(self, level: str) -> int:
        """The merge window of a task at this level."""
        return self.merge_window_ms_by_level.get(level, self.merge_window_ms)


@dataclass(frozen=True)
class Position:
    """A record's Kafka position."""

    partition: int
    offset: int


@dataclass
class PersonState:
    """Everything the dedup stage knows about one person (a JSON-able dict in the table).

    Attributes:
        seen: alert key -> [task_id, partition, offset, issued_at, outcome, decided_at] of its first
            delivery, within the duplicate retention (entries written before verdicts existed have
            only the first four).
        open_task: the Task record last emitted for the person's open task, if any.
        warnings: issued_at of each distinct warning within the prior-warnings lookback.
        cases: case id -> [case_at, loss_fen, fraud_type] of the person's own victim records.
        relatives: relative's person key -> their case ids (relatives with history).
        recent_tasks: task id -> [created_at, last_warned_at, dissuaded] within the victimisation window.
    """

    seen: dict[str, list[Any]] = field(default_factory=dict)
    open_task: dict[str, Any] | None = None
    warnings: list[int] = field(default_factory=list)
    cases: dict[str, list[Any]] = field(default_factory=dict)
    relatives: dict[str, list[str]] = field(default_factory=dict)
    recent_tasks: dict[str, list[Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The table value."""
        return {
            "seen": self.seen,
            "open_task": self.open_task,
            "warnings": self.warnings,
            "cases": self.cases,
            "relatives": self.relatives,
            "recent_tasks": self.recent_tasks,
        }

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> PersonState:
        """A state from its table value (None: a person seen for the first time)."""
        return cls(**value) if value else cls()


@dataclass(frozen=True)
class AlertDecision:
    """The result of one warning: its outcome, the task it belongs to, the task version to emit, and the
    verdict to publish on `alerts.index`."""

    outcome: Outcome
    task_id: str
    emit: dict[str, Any] | None
    verdict: dict[str, Any]


def state_key(alert: dict[str, Any]) -> str:
    """The table key of a warning's person: the person key, or `anon:<alert_key>` without one."""
    person_key = alert.get("person_key")
    return str(person_key) if person_key else f"anon:{alert['alert_key']}"


def task_id_for(key: str, first_alert_key: str) -> str:
    """A task id derived from the person and the task's first warning, so a replay gives the same id."""
    digest = hashlib.sha256(f"{key}|{first_alert_key}".encode()).hexdigest()
    return f"T{digest[:23]}"


def raise_level(level: str) -> str:
    """One level up (CRITICAL stays CRITICAL); unknown levels are left alone."""
    if level not in LEVELS:
        return level
    return LEVELS[min(LEVELS.index(level) + 1, len(LEVELS) - 1)]


def higher_level(first: str, second: str) -> str:
    """The more urgent of two levels; a known level beats an unknown one."""
    rank = {level: index for index, level in enumerate(LEVELS)}
    return first if rank.get(first, -1) >= rank.get(second, -1) else second


def on_alert(
    state: PersonState, alert: dict[str, Any], at: Position, config: DedupConfig, decided_at: int = 0
) -> AlertDecision:
    """Apply one warning to its person's state (mutated in place).

    Args:
        state: the person's state.
        alert: a RawAlert record.
        at: the warning's Kafka position, to tell a replay after a crash from a re-delivery.
        config: the windows.
        decided_at: wall-clock ms of the decision, stamped on the verdict (kept for a replay).
    """
    now = int(alert["issued_at"])
    _prune(state, now, config)
    seen = state.seen.get(alert["alert_key"])
    if seen is not None:
        return _repeat(state, alert, seen, at, decided_at)
    open_task = state.open_task
    mergeable = open_task is not None and open_task["status"] == "OPEN" and alert.get("person_key")
    if mergeable and open_task is not None and _within_window(open_task, now, config):
        task = _merge(open_task, alert, _prior_victim(state))
        outcome = Outcome.MERGED
    else:
        task = _new_task(state, alert, now, config)
        outcome = Outcome.NEW
    state.open_task = task
    state.seen[alert["alert_key"]] = [
        task["task_id"],
        at.partition,
        at.offset,
        now,
        outcome.value,
        decided_at,
    ]
    state.warnings.append(now)
    _note_warning(state, task, now)
    verdict = verdict_record(alert, task["task_id"], outcome, at, decided_at)
    return AlertDecision(outcome, task["task_id"], task, verdict)


def _repeat(
    state: PersonState, alert: dict[str, Any], seen: list[Any], at: Position, decided_at: int
) -> AlertDecision:
    task_id, partition, offset = seen[0], seen[1], seen[2]
    if (partition, offset) != (at.partition, at.offset):
        # A re-delivery: it belongs to the first delivery's task, whatever the person's task is now.
        verdict = verdict_record(alert, task_id, Outcome.DUPLICATE, at, decided_at)
        return AlertDecision(Outcome.DUPLICATE, task_id, None, verdict)
    task = state.open_task if state.open_task and state.open_task["task_id"] == task_id else None
    # The same delivery processed again after a restart: repeat its first verdict exactly.
    first_outcome = Outcome(seen[4]) if len(seen) > 4 else Outcome.NEW
    first_decided_at = int(seen[5]) if len(seen) > 5 else decided_at
    verdict = verdict_record(alert, task_id, first_outcome, at, first_decided_at)
    return AlertDecision(Outcome.REPLAYED, task_id, task, verdict)


def verdict_record(
    alert: dict[str, Any], task_id: str, outcome: Outcome, at: Position, decided_at: int
) -> dict[str, Any]:
    """The AlertVerdict of one delivery of a warning (published to `alerts.index`, keyed by alert key).

    Args:
        alert: the RawAlert.
        task_id: the task the warning belongs to.
        outcome: NEW, MERGED or DUPLICATE (a replay repeats the first delivery's outcome).
        at: the delivery's position in `alerts.raw`.
        decided_at: wall-clock ms of the decision.
    """
    if outcome is Outcome.REPLAYED:
        raise ValueError("a replay publishes its first delivery's outcome, not 'replayed'")
    return {
        "alert_key": alert["alert_key"],
        "source": alert["source"],
        "source_alert_id": alert["source_alert_id"],
        "task_id": task_id,
        "outcome": outcome.value.upper(),
        "decided_at": decided_at,
        "raw_partition": at.partition,
        "raw_offset": at.offset,
    }


def _within_window(task: dict[str, Any], now: int, config: DedupConfig) -> bool:
    return abs(now - int(task["created_at"])) <= config.merge_window_for(task["level"])


def _prior_victim(state: PersonState) -> bool:
    return bool(state.cases)


def _merge(task: dict[str, Any], alert: dict[str, Any], prior_victim: bool) -> dict[str, Any]:
    level = raise_level(alert["level"]) if prior_victim else alert["level"]
    merged = dict(task)
    merged["version"] = int(task["version"]) + 1
    merged["level"] = higher_level(task["level"], level)
    merged["sources"] = sorted({*task["sources"], alert["source"]})
    merged["alert_keys"] = sorted({*task["alert_keys"], alert["alert_key"]})
    merged["amount_at_risk_fen"] = max(int(task["amount_at_risk_fen"]), int(alert["amount_at_risk_fen"]))
    merged["updated_at"] = max(int(task["updated_at"]), int(alert["issued_at"]))
    # created_at and every other SLA anchor stay: a merge never resets a running clock.
    return merged


def _new_task(state: PersonState, alert: dict[str, Any], now: int, config: DedupConfig) -> dict[str, Any]:
    key = state_key(alert)
    prior_victim = _prior_victim(state)
    lookback_start = now - config.prior_warnings_lookback_ms
    losses = [int(case[1]) for case in state.cases.values()]
    return {
        "task_id": task_id_for(key, alert["alert_key"]),
        "version": 1,
        "person_key": alert.get("person_key"),
        "person_flagged": not alert.get("person_key"),
        "level": raise_level(alert["level"]) if prior_victim else alert["level"],
        "base_level": alert["level"],
        "level_raised_for_prior_victim": prior_victim and raise_level(alert["level"]) != alert["level"],
        "fraud_type": alert["fraud_type"],
        "station_code": alert["station_code"],
        "region_code": alert["region_code"],
        "sources": [alert["source"]],
        "alert_keys": [alert["alert_key"]],
        "first_alert_key": alert["alert_key"],
        "created_at": now,
        "updated_at": now,
        "status": "OPEN",
        "closed_at": None,
        "amount_at_risk_fen": int(alert["amount_at_risk_fen"]),
        "masked_name": alert.get("masked_name"),
        "masked_phone": alert.get("masked_phone"),
        "age_band": alert.get("age_band", "UNKNOWN"),
        "resident_type": alert.get("resident_type", "UNKNOWN"),
        "prior_victim": prior_victim,
        "prior_case_count": len(state.cases),
        "prior_loss_total_fen": sum(losses),
        "last_case_at": max((int(case[0]) for case in state.cases.values()), default=None),
        "relatives_with_history": len(state.relatives),
        "prior_warnings_90d": sum(1 for issued in state.warnings if lookback_start <= issued <= now),
        "prior_fraud_types": sorted({str(case[2]) for case in state.cases.values()}),
    }


def _note_warning(state: PersonState, task: dict[str, Any], now: int) -> None:
    entry = state.recent_tasks.get(task["task_id"])
    if entry is None:
        state.recent_tasks[task["task_id"]] = [int(task["created_at"]), now, False]
    else:
        entry[1] = max(int(entry[1]), now)


def _prune(state: PersonState, now: int, config: DedupConfig) -> None:
    """Forget what has left every window, so a person's state stays small."""
    oldest_seen = now - config.duplicate_retention_ms
    state.seen = {key: value for key, value in state.seen.items() if int(value[3]) >= oldest_seen}
    oldest_warning = now - config.prior_warnings_lookback_ms
    state.warnings = [issued for issued in state.warnings if issued >= oldest_warning]
    oldest_task = now - config.victimisation_window_ms
    state.recent_tasks = {
        task_id: entry for task_id, entry in state.recent_tasks.items() if int(entry[1]) >= oldest_task
    }
