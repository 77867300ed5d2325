"""The ClickHouse sink worker on the real broker and chDB: exact rows across kill -9s and an outage.

One data set is written to the sink's five input topics (with two bad records). A clean run loads it
into one chDB database; a run killed with SIGKILL three times, mid-stream, loads it into another. The
two databases must hold exactly the same rows, and exactly the rows the data set implies. A second test
makes every insert fail for a while (the sink's test-only fault file) and shows that the sink pauses,
retries, resumes by itself and loses nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from streams.codec import default_codec
from streams.producer import CheckedProducer
from streams.settings import Settings
from tests.integration.chdb_dump import dump_in_child
from tests.integration.cli import riskalert_ok
from tests.integration.kafka_io import read_all
from tests.integration.workers import WorkerProcess, metric_sum, sink_lag, sink_metrics, sink_worker
from tests.support import (
    alert_record,
    ms_ago,
    raw_alert,
    raw_identifiers,
    sla_event_record,
    task_event_record,
    task_record,
)

ALERTS = 3000
TASKS = 600
VERSIONS = 3
EVENT_KINDS = ("RECEIVED", "DISPATCHED", "VERIFIED", "FEEDBACK")
SLA_KINDS = ("MET", "AT_RISK_50", "BREACHED")
VICTIMS = 150
BAD_RECORDS = 3


def _produce_data_set(settings: Settings) -> dict[str, int]:
    """Write the data set; returns the rows each table must end up with."""
    codec = default_codec()
    producer = CheckedProducer(settings)
    start = ms_ago(600)

    def send(topic: str, key: str, record_type: str, record: dict[str, Any]) -> None:
        producer.produce(settings.topic(topic), key.encode(), codec.encode(record_type, record))

    for n in range(ALERTS):
        send("alerts.raw", f"{n:064x}", "RawAlert", alert_record(n, start + n * 1000))
    for version in range(1, VERSIONS + 1):
        for n in range(TASKS):
            task = task_record(f"T{n:05d}", start + n * 1000, version=version, updated_at=start + version)
            send("tasks", f"T{n:05d}", "Task", task)
    for n in range(TASKS):
        for i, kind in enumerate(EVENT_KINDS):
            send("tasks.events", f"T{n:05d}", "TaskEvent", task_event_record(f"T{n:05d}", i, kind, start + i))
        for kind in SLA_KINDS:
            send(
                "sla.events", f"T{n:05d}", "SlaEvent", sla_event_record(f"T{n:05d}", "RECEPTION", kind, start)
            )
    for n in range(VICTIMS):
        case = {
            "case_id": f"C{n}",
            "person_key": f"{n:064x}",
            "relative_keys": [],
            "case_at": start,
            "loss_fen": 5000,
            "fraud_type": "FAKE_LOAN",
            "station_code": None,
            "ingested_at": start,
        }
        send("victims.history", f"{n:064x}:C{n}", "VictimRecord", case)
    # Three bad records: bytes that are no Avro record, a Task on the SLA events topic, and a task event
    # whose header is sound and whose body is not (ClickHouse refuses its Avro block; the sink decodes
    # that batch record by record).
    producer.produce(settings.topic("alerts.raw"), b"junk", b"\x00not avro")
    send("sla.events", "T00000", "Task", task_record("T00000", start))
    sound = codec.encode("TaskEvent", task_event_record("T00000", 99, "RECEIVED", start))
    corrupt = sound[:5] + b"\xff" * 9 + b"\x01" + sound[15:]
    producer.produce(settings.topic("tasks.events"), b"T00000", corrupt)
    producer.flush()
    return {
        "alerts": ALERTS,
        "tasks": TASKS,
        "task_events": TASKS * len(EVENT_KINDS),
        "sla_events": TASKS * len(SLA_KINDS),
        "victim_cases": VICTIMS,
    }


def _wait_caught_up(settings: Settings, worker: WorkerProcess, timeout_seconds: float = 120) -> None:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        worker.assert_running()
        if sink_lag(settings) == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"sink did not catch up; lag {sink_lag(settings)}:\n{worker.tail()}")


def _ready_to_kill(metrics: dict[str, float], threshold: int) -> bool:
    """Threshold 0: the sla_events fault has struck; else this incarnation inserted `threshold` rows."""
    if threshold == 0:
        return metric_sum(metrics, 'riskalert_sink_failures_total{table="sla_events"') > 0
    return metric_sum(metrics, "riskalert_sink_rows_total") >= threshold


def _forget_group(settings: Settings) -> None:
    admin = AdminClient(settings.kafka_client_config())
    group = f"{settings.topic_prefix}riskalert-sink"
    for future in admin.delete_consumer_groups([group], request_timeout=30).values():
        future.result(timeout=30)


@pytest.fixture
def reap() -> Iterator[list[WorkerProcess]]:
    """Workers appended here are killed at the end, whatever the test's outcome."""
    workers: list[WorkerProcess] = []
    yield workers
    for worker in workers:
        if worker.process is not None and worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(timeout=30)


def test_sink_rows_are_exact_across_kill9s(
    isolated: Settings, tmp_path: Path, reap: list[WorkerProcess]
) -> None:
    expected = _produce_data_set(isolated)

    clean_dsn = f"chdb://{tmp_path / 'clean-db'}"
    clean = sink_worker(isolated, tmp_path, "clean", clean_dsn)
    reap.append(clean)
    clean.start()
    _wait_caught_up(isolated, clean)
    clean_metrics = sink_metrics(clean)
    assert clean.stop() == 0
    _forget_group(isolated)  # the killed run reads everything again, in the same consumer group

    killed_dsn = f"chdb://{tmp_path / 'killed-db'}"
    fault = tmp_path / "sla-events-down"
    killed = sink_worker(isolated, tmp_path, "killed", killed_dsn, RISKALERT_SINK_FAULT_FILE=str(fault))
    reap.append(killed)
    sent_before_kills = recut_before_kills = 0.0
    # The first kill lands for certain between a round's journal and its commit: inserts into
    # sla_events fail (the test-only fault switch) after the round was journaled and other tables'
    # batches landed. The other two land wherever the 1,000th row leaves the round in flight.
    fault.write_text("sla_events\n")
    for threshold in (0, 1000, 1000):
        killed.start()
        deadline = time.monotonic() + 60
        while not _ready_to_kill(sink_metrics(killed), threshold):
            assert time.monotonic() < deadline, killed.tail()
            time.sleep(0.05)
        before_kill = sink_metrics(killed)
        sent_before_kills += metric_sum(before_kill, "riskalert_sink_rows_total")
        recut_before_kills += metric_sum(before_kill, 'riskalert_sink_batches_total{cut="journaled"')
        killed.kill9()
        fault.unlink(missing_ok=True)
    killed.start()
    _wait_caught_up(isolated, killed)
    last = sink_metrics(killed)
    assert killed.stop() == 0

    # The first kill landed between journal and commit: a restart re-cut batches at journaled offsets.
    assert recut_before_kills + metric_sum(last, 'riskalert_sink_batches_total{cut="journaled"') > 0, last
    assert sent_before_kills + metric_sum(last, "riskalert_sink_rows_total") > sum(expected.values())

    clean_rows, killed_rows = dump_in_child(clean_dsn), dump_in_child(killed_dsn)
    assert {table: len(rows) for table, rows in clean_rows.items()} == expected
    assert killed_rows == clean_rows

    # Each bad record is dead-lettered (once per run that read it), with its position and reason.
    letters = read_all(isolated, isolated.topic("alerts.dlq"))
    reasons = {
        (letter.record["original_topic"], letter.record["offset"]): letter.record["reason"]
        for letter in letters
    }
    assert len(reasons) == 3, reasons
    by_topic = {topic: reason for (topic, _), reason in reasons.items()}
    assert by_topic[isolated.topic("alerts.raw")] == "decode_unknown_schema_id"
    assert by_topic[isolated.topic("sla.events")] == "bad_record"
    assert by_topic[isolated.topic("tasks.events")] in {"decode_corrupt_body", "decode_truncated_body"}
    # Only the corrupt record's batch was decoded in Python; every other batch went as an Avro block.
    assert metric_sum(clean_metrics, "riskalert_sink_decoded_batches_total") == 1


def test_sink_pauses_while_clickhouse_fails_and_loses_nothing(
    isolated: Settings, tmp_path: Path, reap: list[WorkerProcess]
) -> None:
    fault = tmp_path / "clickhouse-down"
    fault.touch()
    dsn = f"chdb://{tmp_path / 'db'}"
    sink = sink_worker(
        isolated, tmp_path, f"sink-{uuid.uuid4().hex[:6]}", dsn, RISKALERT_SINK_FAULT_FILE=str(fault)
    )
    reap.append(sink)
    sink.start()
    expected = _produce_data_set(isolated)

    deadline = time.monotonic() + 60
    while True:
        metrics = sink_metrics(sink)
        if (
            metric_sum(metrics, "riskalert_sink_failures_total") >= 3
            and metrics["riskalert_sink_paused"] == 1
        ):
            break
        assert time.monotonic() < deadline, sink.tail()
        time.sleep(0.2)
    assert metric_sum(metrics, "riskalert_sink_rows_total") == 0
    produced = ALERTS + TASKS * VERSIONS + TASKS * (len(EVENT_KINDS) + len(SLA_KINDS)) + VICTIMS + BAD_RECORDS
    assert sink_lag(isolated) == produced  # nothing was committed while ClickHouse was down

    fault.unlink()  # ClickHouse is back
    _wait_caught_up(isolated, sink)
    metrics = sink_metrics(sink)
    assert metrics["riskalert_sink_paused"] == 0
    assert sink.stop() == 0

    rows = dump_in_child(dsn)
    assert {table: len(table_rows) for table, table_rows in rows.items()} == expected


def test_no_raw_identifier_reaches_clickhouse(
    isolated: Settings, tmp_path: Path, reap: list[WorkerProcess]
) -> None:
    """Raw warnings (ID numbers, phones, names) through ingest, the stream worker and the sink: no
    identifier in any ClickHouse row, in either worker's log, or in the sink's metrics."""
    records = [raw_alert(n) for n in range(30)]
    path = tmp_path / "alerts.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    identifiers = raw_identifiers(records)
    assert len(identifiers) >= 60
    riskalert_ok(isolated, "ingest", "alerts", str(path))

    dsn = f"chdb://{tmp_path / 'db'}"
    stream = WorkerProcess(isolated, tmp_path / "stream")
    reap.append(stream)
    sink = sink_worker(isolated, tmp_path, "sink", dsn)
    reap.append(sink)
    stream.start()
    sink.start()
    deadline = time.monotonic() + 90
    while True:
        metrics = sink_metrics(sink)
        alerts = metrics.get('riskalert_sink_rows_total{table="alerts"}', 0)
        tasks = metrics.get('riskalert_sink_rows_total{table="tasks"}', 0)
        if alerts >= len(records) and tasks >= len(records):
            break
        assert time.monotonic() < deadline, sink.tail()
        time.sleep(0.5)
    with urllib.request.urlopen(f"http://127.0.0.1:{sink.port}/metrics", timeout=5) as response:
        metrics_text = response.read().decode()
    assert stream.stop() == 0
    assert sink.stop() == 0

    rows = dump_in_child(dsn)
    assert len(rows["alerts"]) == len(records)
    assert len(rows["tasks"]) == len(records)  # one person per warning: one task each
    assert all("'张*'" in row or "'李*'" in row or "*'" in row for row in rows["alerts"])  # masked, kept
    texts = [*rows["alerts"], *rows["tasks"], stream.log(), sink.log(), metrics_text]
    for identifier in identifiers:
        assert not any(identifier in text for text in texts), "a raw identifier reached ClickHouse or a log"


def test_sink_group_rebalances_lose_and_double_nothing(isolated: Settings, tmp_path: Path) -> None:
    """Partitions move between sinks of one group mid-stream, once while ClickHouse fails (the round
    in flight is given up and read again) and once while it works (the round lands and is committed
    before the partitions move): every row lands exactly once."""
    expected = _produce_data_set(isolated)
    dsn = f"chdb://{tmp_path / 'group-db'}"
    env = {
        **os.environ,
        "RISKALERT_TOPIC_PREFIX": isolated.topic_prefix,
        "RISKALERT_SINK_BATCH_ROWS": "100",
        "RISKALERT_SINK_BATCH_SECONDS": "0.1",
        "RISKALERT_SINK_RETRY_MAX_SECONDS": "0.5",
        "RISKALERT_WORKER_SESSION_TIMEOUT_SECONDS": "6",
    }
    result = subprocess.run(
        [sys.executable, "-m", "tests.integration.sink_group", dsn, str(tmp_path / "tasks-down")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout)
    assert report["members"] == 3, report
    assert report["given_up"] >= 1, result.stderr[-4000:]
    rows = report["rows"]
    assert {table: len(table_rows) for table, table_rows in rows.items()} == expected
    assert rows == dump_in_child(_clean_load(isolated, tmp_path))


def _clean_load(settings: Settings, tmp_path: Path) -> str:
    """Load the data set with one sink worker (its own group) into a fresh database; returns its DSN."""
    dsn = f"chdb://{tmp_path / 'clean-db'}"
    clean = sink_worker(settings, tmp_path, "clean", dsn)
    _forget_group(settings)
    clean.start()
    try:
        _wait_caught_up(settings, clean)
    finally:
        assert clean.stop() == 0
    return dsn
