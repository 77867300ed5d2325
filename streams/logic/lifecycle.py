"""Victim history, relatives and task lifecycle facts applied to a person's state. Pure: no Kafka.

Every function is idempotent: applying the same record or fact twice leaves the same state, so a
replay after a crash never counts a case twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from streams.logic.dedup import FINAL_OUTCOMES, DedupConfig, PersonState

VICTIMISED = "VICTIMISED_AFTER_WARNING"


@dataclass(frozen=True)
class VictimOutputs:
    """What a victim record causes besides the state change."""

    relation_facts: list[dict[str, Any]]
    victimisation_event: dict[str, Any] | None


def relation_fact(relative_key: str, victim_key: str, case_id: str) -> dict[str, Any]:
    """A fact for the relative's partition: `victim_key` (a relative of theirs) has case `case_id`."""
    return {"kind": "RELATIVE_CASE", "person_key": relative_key, "victim_key": victim_key, "case_id": case_id}


def on_victim_record(
    state: PersonState, record: dict[str, Any], config: DedupConfig, now_ms: int
) -> VictimOutputs:
    """Fold one VictimRecord into the person's history; derive relation facts and victimisation.

    Args:
        state: the victim's state (mutated).
        record: a VictimRecord.
        config: the victimisation window.
        now_ms: the ingest clock, for the emitted event's `ingested_at`.
    """
    case_id = str(record["case_id"])
    case_at = int(record["case_at"])
    state.cases[case_id] = [case_at, int(record["loss_fen"]), record["fraud_type"]]
    facts = [
        relation_fact(key, str(record["person_key"]), case_id) for key in sorted(set(record["relative_keys"]))
    ]
    return VictimOutputs(facts, _victimisation(state, case_id, case_at, config, now_ms))


def _victimisation(
    state: PersonState, case_id: str, case_at: int, config: DedupConfig, now_ms: int
) -> dict[str, Any] | None:
    """The post-warning victimisation event: the latest task warned within the window before the case."""
    candidates = [
        (int(entry[1]), task_id, bool(entry[2]))
        for task_id, entry in state.recent_tasks.items()
        if int(entry[0]) <= case_at <= int(entry[1]) + config.victimisation_window_ms
    ]
    if not candidates:
        return None
    _, task_id, dissuaded = max(candidates)
    return {
        "event_id": hashlib.sha256(f"{task_id}|{VICTIMISED}|{case_id}".encode()).hexdigest()[:32],
        "task_id": task_id,
        "type": VICTIMISED,
        "occurred_at": case_at,
        "ingested_at": now_ms,
        "source_system": "riskalert-dedup",
        "was_dissuaded": dissuaded,
        "note": f"victim case {case_id}",
    }


def on_relation_fact(state: PersonState, fact: dict[str, Any]) -> None:
    """Record that one of this person's relatives has a case."""
    cases = state.relatives.setdefault(str(fact["victim_key"]), [])
    if fact["case_id"] not in cases:
        cases.append(str(fact["case_id"]))
        cases.sort()


def task_fact(event: dict[str, Any], person_state_key: str) -> dict[str, Any] | None:
    """The fact a task event tells the task's person, if any (closure, dissuasion, re-feedback)."""
    kind = event["type"]
    if kind == "FEEDBACK":
        return {
            "kind": "FEEDBACK",
            "person_key": person_state_key,
            "task_id": event["task_id"],
            "outcome": event.get("outcome"),
            "at": int(event["occurred_at"]),
        }
    if kind in ("CLOSED", "REFEEDBACK_REQUESTED"):
        return {
            "kind": kind,
            "person_key": person_state_key,
            "task_id": event["task_id"],
            "outcome": None,
            "at": int(event["occurred_at"]),
        }
    return None


def on_task_fact(state: PersonState, fact: dict[str, Any]) -> dict[str, Any] | None:
    """Apply a lifecycle fact; returns the task version to emit when the open task closes or reopens."""
    task_id = fact["task_id"]
    if fact["kind"] == "FEEDBACK" and fact["outcome"] == "DISSUADED" and task_id in state.recent_tasks:
        state.recent_tasks[task_id][2] = True
    closes = fact["kind"] == "CLOSED" or (fact["kind"] == "FEEDBACK" and fact["outcome"] in FINAL_OUTCOMES)
    task = state.open_task
    if closes and task is not None and task["task_id"] == task_id and task["status"] == "OPEN":
        state.open_task = {
            **task,
            "status": "CLOSED",
            "closed_at": fact["at"],
            "version": task["version"] + 1,
        }
        return state.open_task
    reopens = fact["kind"] == "REFEEDBACK_REQUESTED" and task is not None and task["status"] == "CLOSED"
    if reopens and task is not None and task["task_id"] == task_id:
        state.open_task = {**task, "status": "OPEN", "closed_at": None, "version": task["version"] + 1}
        return state.open_task
    return None
