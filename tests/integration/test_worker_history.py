"""Victim history and the task lifecycle through the real worker: enrichment, relatives, closure,
post-warning victimisation."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings
from tests.integration.cli import riskalert_ok
from tests.integration.kafka_io import read_all
from tests.integration.workers import WorkerProcess, running_worker
from tests.support import iso_ago, make_id_number

A, B, C = make_id_number(sequence=101), make_id_number(sequence=102), make_id_number(sequence=103)


def _load(settings: Settings, command: list[str], records: list[dict[str, Any]], tmp_path: Path) -> None:
    path = tmp_path / f"input-{time.monotonic_ns()}.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    riskalert_ok(settings, *command, str(path))


def _warning(n: int, id_number: str, minutes_ago: float, level: str = "HIGH") -> dict[str, Any]:
    return {
        "source": "JZZ",
        "source_alert_id": f"H{n}",
        "issued_at": iso_ago(minutes_ago),
        "level": level,
        "fraud_type": "ROMANCE",
        "station_code": "S01",
        "region_code": "R1",
        "id_number": id_number,
    }


def _until(worker: WorkerProcess, probe: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.assert_running()
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}:\n{worker.tail()}")


def _handled(worker: WorkerProcess, agent: str) -> float:
    """Events an agent has handled, from the worker's /metrics."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=10) as response:
        text = response.read().decode()
    prefix = f'riskalert_agent_events_total{{agent="{agent}",outcome="ok"}} '
    return sum(float(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix))


def _tasks(settings: Settings) -> list[dict[str, Any]]:
    return [read.record for read in read_all(settings, settings.topic("tasks"))]


def _task_for(settings: Settings, alert_key: str, **where: Any) -> dict[str, Any] | None:
    matches = [
        t
        for t in _tasks(settings)
        if alert_key in t["alert_keys"] and all(t[k] == v for k, v in where.items())
    ]
    return max(matches, key=lambda t: t["version"]) if matches else None


def _victimisations(settings: Settings) -> list[dict[str, Any]]:
    events = read_all(settings, settings.topic("tasks.events"))
    return [e.record for e in events if e.record["type"] == "VICTIMISED_AFTER_WARNING"]


def test_history_relatives_closure_and_victimisation(isolated: Settings, tmp_path: Path) -> None:
    history = [
        {
            "case_id": "C1",
            "id_number": A,
            "case_at": iso_ago(60 * 24 * 100),
            "loss_yuan": "8000",
            "fraud_type": "FAKE_LOAN",
            "relatives": [{"id_number": B}],
        }
    ]
    with running_worker(isolated, tmp_path) as worker:
        # History first; its relation fact must reach B's partition before B is warned.
        _load(isolated, ["history", "load"], history, tmp_path)
        # Applied, not only produced: the dedup agent has handled the victim record and the relation fact.
        _until(worker, lambda: _handled(worker, "dedup") >= 2, "the relation fact to be applied")
        _load(
            isolated,
            ["ingest", "alerts"],
            [_warning(1, A, 60), _warning(2, B, 60, "MEDIUM"), _warning(3, C, 60, "LOW")],
            tmp_path,
        )
        task_a = _until(worker, lambda: _task_for(isolated, "JZZ:H1"), "A's task")
        task_b = _until(worker, lambda: _task_for(isolated, "JZZ:H2"), "B's task")
        task_c = _until(worker, lambda: _task_for(isolated, "JZZ:H3"), "C's task")
        assert (task_a["level"], task_a["base_level"], task_a["prior_victim"]) == ("CRITICAL", "HIGH", True)
        assert (task_a["prior_case_count"], task_a["prior_loss_total_fen"]) == (1, 800_000)
        assert task_a["prior_fraud_types"] == ["FAKE_LOAN"]
        assert (task_b["level"], task_b["prior_victim"], task_b["relatives_with_history"]) == (
            "MEDIUM",
            False,
            1,
        )
        assert (task_c["prior_victim"], task_c["relatives_with_history"]) == (False, 0)

        # A is dissuaded: the lifecycle stage tells A's partition, and the task closes.
        feedback = {
            "task_id": task_a["task_id"],
            "type": "FEEDBACK",
            "occurred_at": iso_ago(50),
            "outcome": "DISSUADED",
            "amount_protected_yuan": "10000",
        }
        _load(isolated, ["ingest", "events"], [feedback], tmp_path)
        closed = _until(worker, lambda: _task_for(isolated, "JZZ:H1", status="CLOSED"), "A's closure")
        assert closed["task_id"] == task_a["task_id"]

        # A and B both become victims after their warnings: 预后被骗, split by dissuasion.
        after = [
            {
                "case_id": "C2",
                "id_number": A,
                "case_at": iso_ago(30),
                "loss_fen": 100,
                "fraud_type": "ROMANCE",
            },
            {
                "case_id": "C3",
                "id_number": B,
                "case_at": iso_ago(30),
                "loss_fen": 100,
                "fraud_type": "ROMANCE",
            },
        ]
        _load(isolated, ["history", "load"], after, tmp_path)
        found = _until(
            worker, lambda: len(_victimisations(isolated)) == 2 and _victimisations(isolated), "events"
        )
        by_task = {event["task_id"]: event["was_dissuaded"] for event in found}
        assert by_task == {task_a["task_id"]: True, task_b["task_id"]: False}

        # A new warning for A after the closure opens a new task, enriched with both cases.
        _load(isolated, ["ingest", "alerts"], [_warning(4, A, 10, "LOW")], tmp_path)
        task_a2 = _until(worker, lambda: _task_for(isolated, "JZZ:H4"), "A's second task")
        assert task_a2["task_id"] != task_a["task_id"]
        assert (task_a2["level"], task_a2["prior_case_count"], task_a2["prior_loss_total_fen"]) == (
            "MEDIUM",
            2,
            800_100,
        )
        assert task_a2["prior_warnings_90d"] == 1
        assert worker.stop() == 0


def test_a_bad_record_is_dead_lettered_with_its_position_and_counted(
    isolated: Settings, tmp_path: Path
) -> None:
    import urllib.request

    from confluent_kafka import Producer

    with running_worker(isolated, tmp_path) as worker:
        producer = Producer(
            {"bootstrap.servers": isolated.kafka_bootstrap_servers, "partitioner": "murmur2_random"}
        )
        delivered: list[tuple[int, int]] = []
        producer.produce(
            isolated.topic("alerts.raw"),
            key=b"p-garbage",
            value=b"\x07not avro at all",
            on_delivery=lambda err, msg: delivered.append((msg.partition(), msg.offset())),
        )
        producer.flush(10)
        ((partition, offset),) = delivered
        _load(isolated, ["ingest", "alerts"], [_warning(9, A, 5)], tmp_path)
        letters = _until(worker, lambda: read_all(isolated, isolated.topic("alerts.dlq")), "the dead letter")
        (letter,) = [r.record for r in letters]
        assert (letter["stage"], letter["reason"]) == ("dedup", "decode_bad_magic_byte")
        assert (letter["original_topic"], letter["partition"], letter["offset"]) == (
            isolated.topic("alerts.raw"),
            partition,
            offset,
        )
        assert f"offset {offset}" in str(letter["error"])
        _until(worker, lambda: _task_for(isolated, "JZZ:H9"), "the good warning's task")  # still running
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=10) as response:
            text = response.read().decode()
        assert 'riskalert_alerts_total{outcome="new"} 1.0' in text
        assert 'riskalert_dead_letters_total{reason="decode_bad_magic_byte",stage="dedup"} 1.0' in text
        assert "riskalert_agent_processing_seconds_bucket" in text
        assert worker.stop() == 0


def test_the_worker_serves_http_ingest(isolated: Settings, tmp_path: Path) -> None:
    import urllib.error
    import urllib.request

    worker = WorkerProcess(isolated, tmp_path / "worker", env={"RISKALERT_API_TOKENS": "centre-feed-token"})
    worker.start()
    try:
        url = f"http://127.0.0.1:{worker.port}/v1/alerts"
        body = json.dumps([_warning(21, A, 5), _warning(22, B, 5)]).encode()
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Authorization": "Bearer centre-feed-token", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202
            assert json.loads(response.read()) == {"accepted": 2, "ids": ["JZZ:H21", "JZZ:H22"]}
        refused = urllib.request.Request(url, data=body, method="POST")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(refused, timeout=30)
        assert caught.value.code == 401
        _until(
            worker, lambda: _task_for(isolated, "JZZ:H21") and _task_for(isolated, "JZZ:H22"), "both tasks"
        )
        assert worker.stop() == 0
    finally:
        if worker.process and worker.process.poll() is None:
            worker.process.kill()
