"""The resolver agent under Faust's test_context(): verdicts, events by alert ref and ticks in."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streams import metrics
from streams.app import Pipeline, create_app
from streams.codec import default_codec
from streams.logic.dedup import DedupConfig, PersonState, Position, on_alert
from streams.logic.event_ids import event_id
from streams.settings import Settings
from tests.unit.agents.test_agents import CapturedOutputs, Sent
from tests.unit.logic.test_dedup import T0, alert


@pytest.fixture
def pipeline(tmp_path: Path) -> tuple[Pipeline, Sent]:
    settings = Settings(home=tmp_path, topic_prefix="unit.", worker_stages=["dedup", "resolver"])
    outputs = CapturedOutputs()
    built = create_app(settings, store="memory://", http_api=False, outputs=outputs)  # type: ignore[arg-type]
    return built, outputs.sent


def _run(pipeline: Pipeline, name: str, messages: list[tuple[str, str, dict[str, Any]]]) -> None:
    codec = default_codec()
    agent = next(agent for agent in pipeline.app.agents.values() if agent.name.endswith(name))

    async def feed() -> None:
        async with agent.test_context() as context:
            for key, record_type, record in messages:
                await context.put(key=key.encode(), value=codec.encode(record_type, record))

    asyncio.run(feed())


def _by_ref(source_alert_id: str, kind: str, at: int, **fields: Any) -> dict[str, Any]:
    return {
        "event_id": event_id(f"JZZ:{source_alert_id}", kind, at, ""),
        "task_id": "",
        "type": kind,
        "occurred_at": at,
        "ingested_at": at,
        "alert_ref": {"source": "JZZ", "source_alert_id": source_alert_id},
        **fields,
    }


def _count(outcome: str) -> float:
    return metrics.REF_EVENTS.labels(outcome)._value.get()  # type: ignore[no-any-return]  # test read


def test_dedup_publishes_a_verdict_per_warning_keyed_by_alert_key(pipeline: tuple[Pipeline, Sent]) -> None:
    built, sent = pipeline
    _run(built, "dedup", [("p1", "RawAlert", alert(1)), ("p1", "RawAlert", alert(1))])
    verdicts = [(key, record) for topic, key, _, record in sent if topic == "alerts.index"]
    assert [key for key, _ in verdicts] == ["JZZ:1", "JZZ:1"]
    assert [v["outcome"] for _, v in verdicts] == ["NEW", "DUPLICATE"]
    assert verdicts[0][1]["task_id"] == verdicts[1][1]["task_id"]
    assert [v["raw_offset"] for _, v in verdicts] == [0, 1]


def test_events_by_ref_are_held_until_the_verdict_then_forwarded_by_task(
    pipeline: tuple[Pipeline, Sent],
) -> None:
    built, sent = pipeline
    decision = on_alert(PersonState(), alert(1), Position(0, 0), DedupConfig(), decided_at=T0)
    received = _by_ref("1", "RECEIVED", T0 + 1000)
    held_before = _count("held")
    released_before = _count("released")
    resolved_before = _count("resolved")
    _run(
        built,
        "resolver",
        [
            ("JZZ:1", "TaskEvent", received),
            ("JZZ:1", "AlertVerdict", decision.verdict),
            ("JZZ:1", "TaskEvent", _by_ref("1", "VERIFIED", T0 + 2000, verify_method="PHONE")),
        ],
    )
    forwarded = [(key, record) for topic, key, _, record in sent if topic == "tasks.events"]
    assert [key for key, _ in forwarded] == [decision.task_id] * 2
    assert [record["type"] for _, record in forwarded] == ["RECEIVED", "VERIFIED"]
    assert forwarded[0][1]["event_id"] == event_id(decision.task_id, "RECEIVED", T0 + 1000, "")
    assert forwarded[1][1]["event_id"] == event_id(decision.task_id, "VERIFIED", T0 + 2000, "PHONE")
    assert forwarded[0][1]["alert_ref"] == {"source": "JZZ", "source_alert_id": "1"}
    assert (_count("held"), _count("released"), _count("resolved")) == (
        held_before + 1,
        released_before + 1,
        resolved_before + 1,
    )


def test_an_event_without_alert_ref_on_the_by_ref_topic_is_dead_lettered(
    pipeline: tuple[Pipeline, Sent],
) -> None:
    built, sent = pipeline
    stray = {**_by_ref("1", "RECEIVED", T0), "alert_ref": None, "task_id": "T1"}
    _run(built, "resolver", [("JZZ:1", "TaskEvent", stray)])
    letters = [record for topic, _, _, record in sent if topic == "alerts.dlq"]
    assert [(letter["stage"], letter["reason"]) for letter in letters] == [("resolver", "bad_record")]
    assert "needs alert_ref" in letters[0]["error"]
    assert not [topic for topic, *_ in sent if topic == "tasks.events"]


def test_a_tick_after_the_grace_dead_letters_an_unknown_ref(
    pipeline: tuple[Pipeline, Sent], monkeypatch: pytest.MonkeyPatch
) -> None:
    built, sent = pipeline
    from streams.agents import resolver

    clock = iter([T0, T0 + 900_000])
    monkeypatch.setattr(resolver, "_now_ms", lambda: next(clock))
    tick = {"alert_key": "JZZ:404", "due_at": T0 + 900_000, "sent_at": T0 + 900_000}
    _run(
        built,
        "resolver",
        [("JZZ:404", "TaskEvent", _by_ref("404", "RECEIVED", T0)), ("JZZ:404", "ResolverTick", tick)],
    )
    letters = [record for topic, _, _, record in sent if topic == "alerts.dlq"]
    assert [(letter["stage"], letter["reason"]) for letter in letters] == [("resolver", "unknown_alert_ref")]
    assert (letters[0]["partition"], letters[0]["offset"]) == (0, 0)  # the held event's own position
    assert "JZZ:404 not resolved within the 900 s grace period" in letters[0]["error"]
