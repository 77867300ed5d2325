"""The lifecycle stage: tells a task's person about closures, feedback and re-feedback.

Inputs (co-partitioned by task id): `tasks` and `tasks.events`. It remembers each task's person
(state key) and forwards lifecycle facts to `persons.facts`, keyed by the person, so the dedup stage
learns that a task closed without reading another partition. An event that arrives before its task
is held in the table and forwarded when the task arrives.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from streams.agents.common import decode, handle, send
from streams.logic.lifecycle import task_fact

if TYPE_CHECKING:
    from faust.types import EventT, StreamT, TableT

    from streams.app import Pipeline

STAGE = "lifecycle"
INPUTS = ("tasks", "tasks.events")
MAX_HELD_FACTS = 100


def attach(pipeline: Pipeline) -> None:
    """Register the task-owner table and the lifecycle agent on the pipeline's app."""
    app, settings = pipeline.app, pipeline.settings
    owners = app.Table(
        "task_owners", default=None, partitions=settings.topic_partitions, help="task -> person"
    )
    source = app.topic(
        *(settings.topic(name) for name in INPUTS), key_serializer="raw", value_serializer="raw"
    )

    @app.agent(source, name=STAGE, concurrency=1)
    async def lifecycle(stream: StreamT[Any]) -> None:
        async for event in stream.events():
            await handle(pipeline, STAGE, event, partial(_on_event, pipeline, owners, event))


async def _on_event(pipeline: Pipeline, owners: TableT[str, Any], event: EventT[Any]) -> None:
    record_type, record = decode(pipeline, event)
    if record_type == "Task":
        await _on_task(pipeline, owners, record)
    elif record_type == "TaskEvent":
        await _on_task_event(pipeline, owners, record)
    else:
        raise ValueError(f"{record_type} does not belong on {event.message.topic}")


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
