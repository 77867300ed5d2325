"""The dedup stage: warnings, victim records and person facts in; tasks out. Keyed by person.

Inputs (co-partitioned by person): `alerts.raw`, `victims.history`, `persons.facts`. One agent reads
all three so a person's state changes one event at a time. Outputs: `tasks` (Task, keyed by task id),
`alerts.index` (AlertVerdict per warning delivery, keyed by alert key, read by the resolver),
`persons.facts` (relatives' cases, keyed by the relative), `tasks.events` (post-warning
victimisations, keyed by task id).
"""

from __future__ import annotations

import time
from functools import partial
from typing import TYPE_CHECKING, Any

from streams import metrics
from streams.agents.common import register, send, table_options
from streams.logic.dedup import Outcome, PersonState, Position, on_alert, state_key
from streams.logic.lifecycle import on_relation_fact, on_task_fact, on_victim_record

if TYPE_CHECKING:
    from faust.types import EventT, TableT

    from streams.app import Pipeline

STAGE = "dedup"
INPUTS = ("alerts.raw", "victims.history", "persons.facts")


def attach(pipeline: Pipeline) -> None:
    """Register the persons table and the dedup agent on the pipeline's app."""
    persons = pipeline.app.Table(
        "persons",
        default=None,
        partitions=pipeline.settings.topic_partitions,
        help="dedup state per person",
        options=table_options(pipeline.settings),
    )
    register(
        pipeline,
        STAGE,
        INPUTS,
        {
            "RawAlert": partial(_on_alert, pipeline, persons),
            "VictimRecord": lambda _, record: _on_victim(pipeline, persons, record),
            "PersonFact": lambda _, record: _on_fact(pipeline, persons, record),
        },
    )


async def _on_alert(
    pipeline: Pipeline, persons: TableT[str, Any], event: EventT[Any], alert: dict[str, Any]
) -> None:
    key = state_key(alert)
    state = PersonState.from_dict(persons.get(key))
    position = Position(event.message.partition, event.message.offset)
    decision = on_alert(state, alert, position, pipeline.dedup, time.time_ns() // 1_000_000)
    persons[key] = state.to_dict()
    metrics.ALERTS.labels(decision.outcome.value).inc()
    if decision.emit is not None:
        metrics.TASKS_EMITTED.labels(decision.outcome.value).inc()
        await send(pipeline, "tasks", decision.task_id, "Task", decision.emit)
    # After the task version: a resolver that learns the mapping finds the task on its way.
    await send(pipeline, "alerts.index", alert["alert_key"], "AlertVerdict", decision.verdict)


async def _on_victim(pipeline: Pipeline, persons: TableT[str, Any], record: dict[str, Any]) -> None:
    key = str(record["person_key"])
    state = PersonState.from_dict(persons.get(key))
    outputs = on_victim_record(state, record, pipeline.dedup, time.time_ns() // 1_000_000)
    persons[key] = state.to_dict()
    metrics.VICTIM_RECORDS.labels("folded").inc()
    for fact in outputs.relation_facts:
        await send(pipeline, "persons.facts", fact["person_key"], "PersonFact", fact)
    if outputs.victimisation_event is not None:
        metrics.VICTIM_RECORDS.labels("victimised_after_warning").inc()
        event = outputs.victimisation_event
        await send(pipeline, "tasks.events", event["task_id"], "TaskEvent", event)


async def _on_fact(pipeline: Pipeline, persons: TableT[str, Any], fact: dict[str, Any]) -> None:
    key = str(fact["person_key"])
    state = PersonState.from_dict(persons.get(key))
    if fact["kind"] == "RELATIVE_CASE":
        on_relation_fact(state, fact)
        persons[key] = state.to_dict()
        return
    task = on_task_fact(state, fact)
    persons[key] = state.to_dict()
    if task is not None:
        cause = "closed" if task["status"] == "CLOSED" else "reopened"
        metrics.TASKS_EMITTED.labels(cause).inc()
        await send(pipeline, "tasks", task["task_id"], "Task", task)


__all__ = ["INPUTS", "STAGE", "Outcome", "attach"]
