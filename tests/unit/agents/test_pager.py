"""The pager agent under Faust's test_context(): it only writes its table, and purges in the agent path.

Pushing to Alertmanager is the timer's job; tests/integration/test_pager.py runs it against a real
Alertmanager.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streams.app import Pipeline, create_app
from streams.codec import default_codec
from streams.logic.pager import FIRING, RESOLVED
from streams.partitioning import kafka_partition
from streams.settings import Settings
from tests.unit.agents.test_agents import CapturedOutputs, _agent
from tests.unit.logic.test_pager import TASK_ID, sla, version


@pytest.fixture
def pipeline(tmp_path: Path) -> Pipeline:
    settings = Settings(
        home=tmp_path,
        topic_prefix="unit.",
        worker_stages=["pager"],
        pager_resolved_retention_seconds=0.001,
    )
    return create_app(settings, store="memory://", http_api=False, outputs=CapturedOutputs())  # type: ignore[arg-type]


def _feed(pipeline: Pipeline, messages: list[tuple[str, str, dict[str, Any]]]) -> None:
    codec = default_codec()

    async def feed() -> None:
        async with _agent(pipeline, "pager").test_context() as context:
            for key, record_type, record in messages:
                # On the key's partition, as producers put it (the purge looks at the event's partition).
                partition = kafka_partition(key, pipeline.settings.topic_partitions)
                await context.put(
                    key=key.encode(), value=codec.encode(record_type, record), partition=partition
                )

    asyncio.run(feed())


def test_the_pager_is_a_default_stage_and_writes_only_its_table(tmp_path: Path) -> None:
    assert "pager" in Settings(home=tmp_path).worker_stages
    outputs = CapturedOutputs()
    built = create_app(
        Settings(home=tmp_path, worker_stages=["pager"]), store="memory://", http_api=False, outputs=outputs
    )  # type: ignore[arg-type]
    _feed(built, [(TASK_ID, "Task", version(1)), (TASK_ID, "SlaEvent", sla("BREACHED"))])
    assert outputs.sent == []  # no Kafka output, and no dead letter
    value = built.app.tables["pager_tasks"][TASK_ID]
    assert value["masked_name"] == "张*"
    assert {key: alert["state"] for key, alert in value["alerts"].items()} == {"breach:reception:1": FIRING}


def test_completion_resolves_and_a_closed_task_is_purged_on_a_later_event(pipeline: Pipeline) -> None:
    _feed(
        pipeline,
        [
            (TASK_ID, "Task", version(1)),
            (TASK_ID, "SlaEvent", sla("AT_RISK_75")),
            (TASK_ID, "SlaEvent", sla("BREACHED")),
            (TASK_ID, "SlaEvent", sla("MET_LATE")),
        ],
    )
    table = pipeline.app.tables["pager_tasks"]
    alerts = table[TASK_ID]["alerts"]
    assert {key: alert["state"] for key, alert in alerts.items()} == {
        "at_risk:reception:1": RESOLVED,
        "breach:reception:1": RESOLVED,
    }
    # Closed, nothing firing: purged once its (1 ms) retention passed and another event comes by.
    _feed(pipeline, [(TASK_ID, "Task", version(2, status="CLOSED"))])
    assert TASK_ID in table
    _feed(pipeline, [(TASK_ID, "Task", version(2, status="CLOSED"))])
    assert TASK_ID not in table


def test_a_record_that_does_not_belong_is_dead_lettered(tmp_path: Path) -> None:
    outputs = CapturedOutputs()
    built = create_app(
        Settings(home=tmp_path, worker_stages=["pager"]), store="memory://", http_api=False, outputs=outputs
    )  # type: ignore[arg-type]
    tick = {"task_id": TASK_ID, "due_at": 0, "sent_at": 0}
    _feed(built, [(TASK_ID, "SlaTick", tick)])
    assert [(topic, record["reason"]) for topic, _, _, record in outputs.sent] == [
        ("alerts.dlq", "bad_record")
    ]
