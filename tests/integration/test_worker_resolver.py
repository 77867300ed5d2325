"""The resolver on the real broker: events reported against warnings reach their task once.

Warnings go through `riskalert ingest alerts` and the dedup stage; events addressed by `alert_ref` go
through `riskalert ingest events` (JSON Lines, the simulator's shape) to `tasks.events.by_ref`; the
worker's resolver forwards them to `tasks.events` by task id, where the SLA stage times them.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from streams.logic.event_ids import event_id
from streams.settings import Settings
from tests.integration.cli import riskalert_ok
from tests.integration.kafka_io import read_all, topic_size
from tests.integration.workers import WorkerProcess
from tests.support import make_id_number, ms_ago

SECOND = 1000
DETAIL = {"DISPATCHED": "assignee", "VERIFIED": "verify_method", "FEEDBACK": "outcome"}


def _warning(person: int, source: str, alert_id: str, issued_at: int) -> dict[str, Any]:
    return {
        "source": source,
        "source_alert_id": alert_id,
        "issued_at": issued_at,
        "level": "LOW",  # allowances of an hour and more: no threshold passes during the test
        "fraud_type": "FAKE_INVESTMENT",
        "station_code": f"S{person % 12:02d}",
        "region_code": "R330106",
        "id_number": make_id_number(sequence=person % 1000, birth=f"19{50 + person // 1000:02d}0307"),
    }


def _by_ref(source: str, alert_id: str, kind: str, at: int) -> dict[str, Any]:
    event: dict[str, Any] = {
        "alert_ref": {"source": source, "source_alert_id": alert_id},
        "type": kind,
        "occurred_at": at,
    }
    detail = {"DISPATCHED": "PC-0231", "VERIFIED": "PHONE", "FEEDBACK": "DISSUADED"}.get(kind)
    if detail is not None:
        event[DETAIL[kind]] = detail
    return event


def _expected_id(task_id: str, event: dict[str, Any]) -> str:
    detail = event.get(DETAIL.get(event["type"], ""), "")
    return event_id(task_id, event["type"], event["occurred_at"], detail)


def _ingest(settings: Settings, kind: str, path: Path, records: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))
    riskalert_ok(settings, "ingest", kind, str(path))


def _records(settings: Settings, topic: str) -> list[dict[str, Any]]:
    return [read.record for read in read_all(settings, settings.topic(topic))]


def _one_per_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One record per event id; a re-emission after a crash must be identical to the first."""
    by_id: dict[str, dict[str, Any]] = {}
    for event in events:
        first = by_id.setdefault(str(event["event_id"]), event)
        assert first == event, f"{event['event_id']} forwarded twice with different content"
    return by_id


def _wait(condition: Any, worker: WorkerProcess, what: str, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.assert_running()
        result = condition()
        if result:
            return result
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}:\n{worker.tail()}")


def test_three_merged_warnings_events_by_each_ref_count_once(isolated: Settings, tmp_path: Path) -> None:
    issued = ms_ago(3)
    refs = [("JZZ", "J-1"), ("MPS_FUND", "M-1"), ("NAC_APP", "N-1")]
    warnings = [
        _warning(7, source, alert_id, issued + n * SECOND) for n, (source, alert_id) in enumerate(refs)
    ]
    at = issued + 10 * SECOND
    # Sent before any warning is processed: held by the resolver, then applied.
    early = [_by_ref(*refs[0], "RECEIVED", at), _by_ref(*refs[0], "DISPATCHED", at + 20 * SECOND)]
    # Sent once the task exists, against the two other refs: second reports of two steps, then the rest.
    late = [
        _by_ref(*refs[1], "RECEIVED", at + 10 * SECOND),
        _by_ref(*refs[2], "DISPATCHED", at + 30 * SECOND),
        _by_ref(*refs[1], "VERIFIED", at + 40 * SECOND),
        _by_ref(*refs[2], "FEEDBACK", at + 50 * SECOND),
    ]
    unknown = _by_ref("BANK", "NEVER-SENT", "RECEIVED", at)
    worker = WorkerProcess(
        isolated,
        tmp_path / "worker",
        env={
            "RISKALERT_WORKER_STAGES": '["dedup", "resolver", "sla", "pager"]',
            "RISKALERT_RESOLVER_GRACE_SECONDS": "30",
            "RISKALERT_RESOLVER_TIMER_INTERVAL_SECONDS": "0.5",
        },
    )
    worker.start()
    try:
        _ingest(isolated, "events", tmp_path / "early.jsonl", [*early, unknown])
        _ingest(isolated, "alerts", tmp_path / "alerts.jsonl", warnings)
        forwarded = _wait(
            lambda: len(_records(isolated, "tasks.events")) >= 2 and _records(isolated, "tasks.events"),
            worker,
            "the early events",
        )
        [task_id] = {event["task_id"] for event in forwarded}
        _ingest(isolated, "events", tmp_path / "late.jsonl", late)
        # The same reception again, addressed by task id this time: the same event, the same id.
        again = {"task_id": task_id, "type": "RECEIVED", "occurred_at": at}
        _ingest(isolated, "events", tmp_path / "again.jsonl", [again])
        letters = _wait(
            lambda: [d for d in _records(isolated, "alerts.dlq") if d["stage"] == "resolver"],
            worker,
            "the unknown ref's dead letter",
        )
        sla = _wait(
            lambda: len(_records(isolated, "sla.events")) >= 4 and _records(isolated, "sla.events"),
            worker,
            "SLA events",
        )
        time.sleep(3)  # anything extra would arrive now
        events = _records(isolated, "tasks.events")
        sla = _records(isolated, "sla.events")
    finally:
        assert worker.stop() == 0

    tasks = _records(isolated, "tasks")
    assert {task["task_id"] for task in tasks} == {task_id}
    assert max(task["alert_keys"] for task in tasks) == sorted(f"{s}:{i}" for s, i in refs)
    # Six events, six ids: the reception reported again by task id has the by-ref reception's id.
    assert {e["event_id"] for e in events} == {_expected_id(task_id, event) for event in [*early, *late]}
    reception_id = _expected_id(task_id, early[0])
    copies = [e for e in events if e["event_id"] == reception_id]
    assert sorted(str(e["alert_ref"]) for e in copies) == sorted([str(None), str(early[0]["alert_ref"])])
    assert {event["task_id"] for event in events} == {task_id}
    refs_seen = {
        (e["alert_ref"]["source"], e["alert_ref"]["source_alert_id"]) for e in events if e["alert_ref"]
    }
    assert refs_seen == set(refs)
    # One MET per step, each completed by the first event of its step; second reports count nothing.
    met = {(e["step"], e["kind"], e["completed_at"]) for e in sla}
    assert met == {
        ("RECEPTION", "MET", at),
        ("DISPATCH", "MET", at + 20 * SECOND),
        ("VERIFICATION", "MET", at + 40 * SECOND),
        ("FEEDBACK", "MET", at + 50 * SECOND),
    }
    assert len({e["event_id"] for e in sla}) == 4
    [letter] = letters
    assert letter["reason"] == "unknown_alert_ref"
    assert letter["original_topic"] == isolated.topic("tasks.events.by_ref")
    assert "BANK:NEVER-SENT not resolved within the 30 s grace period" in letter["error"]
    verdicts = _records(isolated, "alerts.index")
    assert sorted((v["alert_key"], v["outcome"], v["task_id"]) for v in verdicts) == sorted(
        [("JZZ:J-1", "NEW", task_id), ("MPS_FUND:M-1", "MERGED", task_id), ("NAC_APP:N-1", "MERGED", task_id)]
    )
    assert "Traceback" not in worker.log()


def _wait_for_size(settings: Settings, topic: str, minimum: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if topic_size(settings, settings.topic(topic)) >= minimum:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {minimum} records on {topic} after {timeout}s")


def _kill_scenario(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Warnings (one to three per person) and two events by ref per warning, half of them early."""
    rng = random.Random(seed)
    base = ms_ago(60)
    warnings: list[dict[str, Any]] = []
    early: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []
    for person in range(1500):
        for n in range(rng.choice([1, 1, 2, 3])):
            source = ("JZZ", "MPS_FUND", "NAC_APP")[n]
            alert_id = f"K{person}-{n}"
            issued = base + person * SECOND + n
            warnings.append(_warning(person, source, alert_id, issued))
            events = [
                _by_ref(source, alert_id, "RECEIVED", issued + 10 * SECOND),
                _by_ref(source, alert_id, "DISPATCHED", issued + 20 * SECOND),
            ]
            (early if rng.random() < 0.5 else late).extend(events)
    return warnings, early, late


def test_kill_9_of_the_resolver_mid_stream_loses_and_doubles_nothing(
    isolated: Settings, tmp_path: Path
) -> None:
    warnings, early, late = _kill_scenario(seed=9)
    expected_count = len(early) + len(late)
    worker = WorkerProcess(
        isolated, tmp_path / "worker", env={"RISKALERT_WORKER_STAGES": '["dedup", "resolver"]'}
    )
    # A backlog: the worker starts on it, so the kill lands while the resolver is busy.
    _ingest(isolated, "events", tmp_path / "early.jsonl", early)
    _ingest(isolated, "alerts", tmp_path / "alerts.jsonl", warnings)
    _ingest(isolated, "events", tmp_path / "late.jsonl", late)
    worker.start()
    try:
        _wait_for_size(isolated, "tasks.events", expected_count // 4)
        worker.kill9()
        forwarded_at_kill = topic_size(isolated, isolated.topic("tasks.events"))
        assert forwarded_at_kill < expected_count * 3 // 4, "the kill came too late to interrupt anything"
        worker.start()
        _wait(
            lambda: len({e["event_id"] for e in _records(isolated, "tasks.events")}) >= expected_count,
            worker,
            "every event",
            timeout=240,
        )
        time.sleep(3)  # anything extra would arrive now
        events = _records(isolated, "tasks.events")
    finally:
        worker.stop()

    task_of = {key: task["task_id"] for task in _records(isolated, "tasks") for key in task["alert_keys"]}
    expected = {
        _expected_id(task_of[f"{e['alert_ref']['source']}:{e['alert_ref']['source_alert_id']}"], e)
        for e in [*early, *late]
    }
    assert len(expected) == expected_count
    by_id = _one_per_id(events)
    assert set(by_id) == expected  # none lost, none invented
    for event in by_id.values():
        ref = event["alert_ref"]
        assert event["task_id"] == task_of[f"{ref['source']}:{ref['source_alert_id']}"]
    assert not [d for d in _records(isolated, "alerts.dlq") if d["stage"] == "resolver"]
    assert worker.starts == 2
