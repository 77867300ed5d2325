"""The lifecycle stage: tells a task's person about closures, feedback and re-feedback.

Inputs (co-partitioned by task id): `tasks` and `tasks.events`. It remembers each task's person
(state key) and forwards lifecycle facts to `persons.facts`, keyed by the person, so the dedup stage
learns that a task closed without reading another partition. An event that arrives before its task
is held in the table and forwarded when the task arrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streams.agents.common import register, send
from streams.logic.lifecycle import task_fact

if TYPE_CHECKING:
    from faust.types import TableT

    from streams.app import Pipeline

STAGE = "lifecycle"
INPUTS = ("tasks", "tasks.events")
MAX_HELD_FACTS = 100


def attach(pipeline: Pipeline) -> None:
    """Register the task-owner table and the lifecycle agent on the pipeline's app."""
    owners = pipeline.app.Table(
        "task_owners", default=None, partitions=pipeline.settings.topic_partitions, help="task -> person"
    )
    register(
        pipeline,
        STAGE,
        INPUTS,
        {
            "Task": lambda _, record: _on_task(pipeline, owners, record),
            "TaskEvent": lambda _, record: _on_task_event(pipeline, owners, record),
        },
    )


async def _on_task(pipeline: Pipeline, owners: TableT[str, Any], task: dict[str, Any]) -> None:
    entry = owners.get(task["task_id"]) or {"owner": None, "held": []}
    if entry["owner"] is not None:
        return
    owner = task["person_key"] or f"anon:{task['first_alert_key']}"
    owners[task["task_id"]] = {"owner": owner, "held": []}
    for fact in entry["held"]:
        await send(pipeline, "persons.facts", owner, "PersonFact", {**fact, "person_key": owner})


async def _on_task_event(pipeline: Pipeline, owners: TableT[str, Any], event: dict[str, Any]) -> None:
    entry = owners.get(event["task_id"]) or {"owner": None, "held": []}
    fact = task_fact(event, entry["owner"] or "")
    if fact is None:
        return
    if entry["owner"] is None:
        # The task is still in flight: hold the fact until the task arrives (bounded per task).
        owners[event["task_id"]] = {"owner": None, "held": [*entry["held"], fact][-MAX_HELD_FACTS:]}
        return
    await send(pipeline, "persons.facts", entry["owner"], "PersonFact", fact)
