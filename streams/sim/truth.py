"""The ground truth of a simulation: what the pipeline must count, from the pipeline's own logic.

Nothing here re-implements a rule. Each line goes, in stream order (`streams.sim.order`), through
the ingest validators (`streams.ingest.validate`), the dedup and lifecycle rules
(`streams.logic.dedup`, `streams.logic.lifecycle`) and the SLA stage's per-task logic
(`streams.logic.tasks`, with the SLA policy the workers load), as one single-threaded pipeline:
- a rejected line is a dead letter;
- an event's `alert_ref` resolves to the task its warning created or joined, as the resolver does;
- SLA inputs are applied in event-time order with the replay clock's stamps, as `--clock event`
  does, including merges that raise the level (shorter deadlines), prior victims (one level up),
  implied steps (VERIFIED before DISPATCHED), repeated steps (the first counts) and re-feedback
  cycles;
- feedback closes and re-feedback reopens tasks through the same lifecycle facts.

The person keys are HMACs under a fixed key of the simulator's: task ids differ from the pipeline's,
counts do not. Only the simulated period is counted: the warnings after it (the run-out, see
`streams.sim.generate`) are there to move stream time past the period's last events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streams.clock import EventClock
from streams.ingest.context import Accepted, IngestContext
from streams.ingest.fields import Limits
from streams.ingest.gateway import RecordKind
from streams.ingest.readers import ParseError, parse_json_record
from streams.ingest.validate import validate_alert, validate_task_event, validate_victim
from streams.logic import sla as sla_logic
from streams.logic.dedup import DedupConfig, Outcome, PersonState, Position, on_alert, state_key
from streams.logic.lifecycle import on_relation_fact, on_task_fact, on_victim_record, task_fact
from streams.logic.sla_policy import STEPS, Policy
from streams.logic.tasks import Held, StageConfig, TaskState, on_task, on_task_event
from streams.sim.order import StreamLine

TRUTH_HMAC_KEY = b"riskalert-simulator-ground-truth"
SLA_KINDS = ("AT_RISK_50", "AT_RISK_75", "BREACHED", "MET", "MET_LATE")


@dataclass
class GroundTruth:
    """What the pipeline must end up with."""

    outcomes: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    dead_letters_by_file: Counter[str] = field(default_factory=Counter)
    sla_events: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    victimisations: int = 0
    victim_records: int = 0
    events_applied: int = 0
    open_clocks: int = 0

    def breaches(self) -> dict[str, int]:
        """BREACHED events per step (every feedback cycle counted)."""
        return self.count_kind("BREACHED")

    def count_kind(self, kind: str) -> dict[str, int]:
        """SLA events of one kind per step."""
        counts = Counter(e["step"].lower() for e in self.sla_events.values() if e["kind"] == kind)
        return {step: counts.get(step, 0) for step in STEPS}

    def as_json(self) -> dict[str, Any]:
        """The comparable figures, as written to expected.json."""
        tasks = list(self.tasks.values())
        stations = Counter(task["station_code"] for task in tasks)
        breaches_by_station = Counter(
            e["station_code"] for e in self.sla_events.values() if e["kind"] == "BREACHED"
        )
        return {
            "tasks": len(tasks),
            "warnings": sum(self.outcomes.values()),
            "new": self.outcomes[Outcome.NEW.value],
            # A task's warnings beyond its first: a duplicate issued just after midnight still joins a
            # task of the period.
            "merges": sum(len(task["alert_keys"]) - 1 for task in tasks),
            "duplicates": self.outcomes[Outcome.DUPLICATE.value],
            "tasks_by_level": dict(sorted(Counter(task["level"] for task in tasks).items())),
            "prior_victim_tasks": sum(1 for task in tasks if task["prior_victim"]),
            "level_raised_for_prior_victim": sum(
                1 for task in tasks if task["level_raised_for_prior_victim"]
            ),
            "victim_records": self.victim_records,
            "post_warning_victimisations": self.victimisations,
            "task_events": self.events_applied,
            "breaches": self.breaches(),
            "sla_events": {kind: self.count_kind(kind) for kind in SLA_KINDS},
            "dead_letters": {
                "total": sum(self.dead_letters.values()),
                "by_reason": dict(sorted(self.dead_letters.items())),
                "by_file": dict(sorted(self.dead_letters_by_file.items())),
            },
            "stations": {
                code: {"tasks": stations[code], "breaches": breaches_by_station.get(code, 0)}
                for code in sorted(stations)
            },
            "open_clocks_at_end": self.open_clocks,
        }


class _Pipeline:
    """The pipeline's stages folded into one process, in stream order."""

    def __init__(
        self, policy: Policy, dedup: DedupConfig, stage: StageConfig, now_ms: int, period_end_ms: int
    ) -> None:
        self.policy, self.dedup, self.stage, self.now_ms = policy, dedup, stage, now_ms
        self.period_end_ms = period_end_ms
        self.context = IngestContext(TRUTH_HMAC_KEY, Limits())
        self.clock = EventClock(0)
        self.persons: dict[str, PersonState] = {}
        self.task_states: dict[str, TaskState] = {}
        self.alert_tasks: dict[str, str] = {}
        self.truth = GroundTruth()
        self.sequence = 0

    def apply(self, line: StreamLine) -> None:
        self.sequence += 1
        item = parse_json_record(line.line, line.data)
        if isinstance(item, ParseError):
            self._dead(line, item.reason_code)
            return
        if line.kind is RecordKind.VICTIM:
            self._victim(line, validate_victim(item, self.context, self.now_ms))
        elif line.kind is RecordKind.ALERT:
            self._alert(line, validate_alert(item, self.context, self.now_ms))
        else:
            self._event(line, dict(item))

    def _dead(self, line: StreamLine, reason: str) -> None:
        self.truth.dead_letters[reason] += 1
        self.truth.dead_letters_by_file[line.file] += 1

    def _person(self, key: str) -> PersonState:
        return self.persons.setdefault(key, PersonState())

    def _victim(self, line: StreamLine, result: Any) -> None:
        if not isinstance(result, Accepted):
            self._dead(line, result.reason)
            return
        self.truth.victim_records += 1
        record = result.record
        out = on_victim_record(self._person(str(record["person_key"])), record, self.dedup, self.now_ms)
        for fact in out.relation_facts:
            on_relation_fact(self._person(str(fact["person_key"])), fact)
        if out.victimisation_event is not None:
            self.truth.victimisations += 1
            self._sla_event(out.victimisation_event)

    def _alert(self, line: StreamLine, result: Any) -> None:
        if not isinstance(result, Accepted):
            self._dead(line, result.reason)
            return
        alert = result.record
        decision = on_alert(self._person(state_key(alert)), alert, Position(0, self.sequence), self.dedup)
        if int(str(alert["issued_at"])) < self.period_end_ms:
            self.truth.outcomes[decision.outcome.value] += 1
        self.alert_tasks.setdefault(str(alert["alert_key"]), decision.task_id)
        if decision.emit is not None:
            self._task_version(decision.emit)

    def _event(self, line: StreamLine, item: dict[str, Any]) -> None:
        ref = item.pop("alert_ref", None)
        if isinstance(ref, dict):
            task_id = self.alert_tasks.get(
                f"{str(ref.get('source', '')).upper()}:{ref.get('source_alert_id')}"
            )
            if task_id is None:
                self._dead(line, "unresolved_alert_ref")
                return
            item["task_id"] = task_id
        result = validate_task_event(item, self.context, self.now_ms)
        if not isinstance(result, Accepted):
            self._dead(line, result.reason)
            return
        self.truth.events_applied += 1
        event = result.record
        state = self._sla_event(event)
        fact = task_fact(event, state.owner or "")
        if fact is not None:
            version = on_task_fact(self._person(str(fact["person_key"])), fact)
            if version is not None:
                self._task_version(version)

    def _task_version(self, task: dict[str, Any]) -> None:
        if int(task["created_at"]) < self.period_end_ms:
            self.truth.tasks[str(task["task_id"])] = task
        state = self.task_states.setdefault(str(task["task_id"]), TaskState())
        out = on_task(state, task, self.policy, int(task["updated_at"]), self.clock, self.stage)
        self._collect(out.sla_events)

    def _sla_event(self, event: dict[str, Any]) -> TaskState:
        state = self.task_states.setdefault(str(event["task_id"]), TaskState())
        held = Held(event, "tasks.events", 0, self.sequence)
        out = on_task_event(state, held, int(event["occurred_at"]), self.clock, self.stage)
        self._collect(out.sla_events)
        return state

    def _collect(self, sla_events: Iterable[dict[str, Any]]) -> None:
        for sla_event in sla_events:
            if str(sla_event["task_id"]) in self.truth.tasks:
                self.truth.sla_events.setdefault(str(sla_event["event_id"]), sla_event)

    def finish(self) -> GroundTruth:
        self.truth.open_clocks = sum(
            1
            for task_id, state in self.task_states.items()
            if task_id in self.truth.tasks
            and state.sla is not None
            and sla_logic.next_check_at(state.sla) is not None
        )
        return self.truth


def ground_truth(
    lines: Iterable[StreamLine],
    policy: Policy,
    dedup: DedupConfig,
    stage: StageConfig,
    now_ms: int,
    period_end_ms: int,
) -> GroundTruth:
    """Run the lines, in stream order, through the pipeline's logic.

    Tasks, warnings and SLA events count when they belong to the period: a task created before
    `period_end_ms`, a warning issued before it. Dead letters and victim records count whenever.

    Args:
        lines: the simulation's lines in stream order (`streams.sim.order.stream_lines`).
        policy: the SLA policy the workers load.
        dedup: the dedup windows the workers use.
        stage: the SLA stage's windows.
        now_ms: the ingest clock, for the validators' time window (the run's wall clock).
        period_end_ms: the end of the simulated period (exclusive).
    """
    pipeline = _Pipeline(policy, dedup, stage, now_ms, period_end_ms)
    for line in lines:
        pipeline.apply(line)
    return pipeline.finish()
