"""The dedup and lifecycle agents under Faust's test_context(): no broker, in-memory tables.

Outputs are captured at the topics' `send_soon` (the agents' only way out); the integration tests
cover the same agents against the real broker.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streams.app import Pipeline, create_app
from streams.clock import EventClock
from streams.codec import default_codec
from streams.settings import Settings
from tests.unit.logic.test_dedup import T0, alert

Sent = list[tuple[str, str, str, dict[str, Any]]]


class CapturedOutputs:
    """Stands in for `streams.outputs.Outputs`: records what the agents produce, decoded."""

    def __init__(self) -> None:
        self.sent: Sent = []
        self.codec = default_codec()

    def send(self, topic: str, key: bytes, value: bytes, partition: int | None = None) -> None:
        record_type, record = self.codec.decode(value)
        self.sent.append((topic, key.decode(), record_type, record))

    async def flush(self) -> None:
        """Nothing is buffered."""


@pytest.fixture
def pipeline(tmp_path: Path) -> tuple[Pipeline, Sent]:
    settings = Settings(home=tmp_path, topic_prefix="unit.")
    outputs = CapturedOutputs()
    # Event time with no lateness: the tests' fixed timestamps decide what is due, not the wall clock.
    built = create_app(
        settings,
        store="memory://",
        http_api=False,
        clock=EventClock(0),
        outputs=outputs,  # type: ignore[arg-type]
    )
    return built, outputs.sent


def _agent(pipeline: Pipeline, name: str) -> Any:
    return next(agent for agent in pipeline.app.agents.values() if agent.name.endswith(name))


def _run(pipeline: Pipeline, agent_name: str, messages: list[tuple[str, str, dict[str, Any]]]) -> None:
    codec = default_codec()

    async def feed() -> None:
        async with _agent(pipeline, agent_name).test_context() as context:
            for key, record_type, record in messages:
                await context.put(key=key.encode(), value=codec.encode(record_type, record))

    asyncio.run(feed())


def test_dedup_agent_turns_warnings_into_tasks(pipeline: tuple[Pipeline, Sent]) -> None:
    built, sent = pipeline
    _run(
        built,
        "dedup",
        [
            ("p1", "RawAlert", alert(1)),
            ("p1", "RawAlert", alert(1)),  # a re-delivery at another offset: dropped
            ("p1", "RawAlert", alert(2, minutes=5, level="CRITICAL")),
        ],
    )
    tasks = [(key, record) for topic, key, record_type, record in sent if topic == "tasks"]
    assert [task["version"] for _, task in tasks] == [1, 2]
    assert tasks[1][1]["level"] == "CRITICAL"
    assert tasks[1][1]["alert_keys"] == ["JZZ:1", "JZZ:2"]
    assert {key for key, _ in tasks} == {tasks[0][1]["task_id"]}


def test_dedup_agent_dead_letters_garbage_and_keeps_going(pipeline: tuple[Pipeline, Sent]) -> None:
    built, sent = pipeline

    async def feed() -> None:
        async with _agent(built, "dedup").test_context() as context:
            await context.put(key=b"x", value=b"\x00\x00garbage")
            await context.put(key=b"p1", value=default_codec().encode("RawAlert", alert(7)))

    asyncio.run(feed())
    letters = [record for topic, _, _, record in sent if topic == "alerts.dlq"]
    assert [letter["reason"] for letter in letters] == ["decode_unknown_schema_id"]
    assert [topic for topic, *_ in sent].count("tasks") == 1


def test_sla_agent_routes_closure_to_the_person(pipeline: tuple[Pipeline, Sent]) -> None:
    built, sent = pipeline
    from streams.logic.dedup import DedupConfig, PersonState, Position, on_alert

    task = on_alert(PersonState(), alert(1), Position(0, 0), DedupConfig()).emit
    assert task is not None
    feedback = {
        "event_id": "e" * 32,
        "task_id": task["task_id"],
        "type": "FEEDBACK",
        "occurred_at": T0 + 60_000,
        "ingested_at": T0,
        "outcome": "DISSUADED",
    }
    # The feedback arrives first: it is held until its task arrives, then applied.
    _run(built, "sla", [(task["task_id"], "TaskEvent", feedback), (task["task_id"], "Task", task)])
    facts = [(key, record) for topic, key, _, record in sent if topic == "persons.facts"]
    assert facts == [
        (
            "p1",
            {
                "kind": "FEEDBACK",
                "person_key": "p1",
                "victim_key": None,
                "case_id": None,
                "task_id": task["task_id"],
                "outcome": "DISSUADED",
                "at": T0 + 60_000,
            },
        )
    ]
    sla_events = [record["event_id"] for topic, _, _, record in sent if topic == "sla.events"]
    tid = task["task_id"]
    assert sla_events == [
        f"{tid}:{step}:1:MET" for step in ("reception", "dispatch", "verification", "feedback")
    ]


def test_sla_agent_checks_deadlines_on_a_tick(pipeline: tuple[Pipeline, Sent]) -> None:
    built, sent = pipeline
    from streams.logic.dedup import DedupConfig, PersonState, Position, on_alert

    task = on_alert(PersonState(), alert(1, level="CRITICAL"), Position(0, 0), DedupConfig()).emit
    assert task is not None
    tid = task["task_id"]
    later = {
        "event_id": "f" * 32,
        "task_id": tid,
        "type": "RECEIVED",
        "occurred_at": T0 + 50_000,  # the event clock now stands at T0 + 50 s
        "ingested_at": T0,
    }
    tick = {"task_id": tid, "due_at": T0, "sent_at": T0}
    _run(built, "sla", [(tid, "Task", task), (tid, "TaskEvent", later), (tid, "SlaTick", tick)])
    kinds = [record["event_id"].split(":", 1)[1] for topic, _, _, record in sent if topic == "sla.events"]
    # CRITICAL reception is due in 1 min: 50 % (30 s) passed before the RECEIVED at 50 s, 75 % (45 s) too.
    assert kinds == ["reception:1:AT_RISK_50", "reception:1:AT_RISK_75", "reception:1:MET"]
    stamped = [record["detected_at"] - T0 for topic, _, _, record in sent if topic == "sla.events"]
    assert stamped == [30_001, 45_001, 50_000]


def test_a_worker_runs_only_the_stages_it_is_given(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, topic_prefix="unit.", worker_stages=["dedup"])
    built = create_app(settings, store="memory://", http_api=False, outputs=CapturedOutputs())
    assert sorted(agent.name.rsplit(".", 1)[-1] for agent in built.app.agents.values()) == ["dedup"]
    everything = create_app(
        Settings(home=tmp_path, topic_prefix="unit2."),
        store="memory://",
        http_api=False,
        outputs=CapturedOutputs(),
    )
    assert sorted(agent.name.rsplit(".", 1)[-1] for agent in everything.app.agents.values()) == [
        "dedup",
        "pager",
        "resolver",
        "sla",
    ]
