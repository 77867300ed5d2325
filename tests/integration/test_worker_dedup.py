"""The dedup worker on the real broker: exact tasks for 10,000 warnings, also across a kill -9."""

from __future__ import annotations

import json
import random
import time
import urllib.request
from pathlib import Path
from typing import Any

from streams.settings import Settings
from tests.integration.cli import riskalert_ok
from tests.integration.kafka_io import read_all, topic_size
from tests.integration.workers import WorkerProcess, running_worker
from tests.support import iso_ago, make_id_number

LEVELS = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
SOURCES = ["MPS_FUND", "JZZ", "NAC_APP", "BANK", "TELECOM", "HOTLINE_96110"]


def _scenario(
    warnings: int, seed: int = 11
) -> tuple[list[dict[str, Any]], dict[tuple[str, ...], dict[str, Any]]]:
    """At least `warnings` distinct warnings with known cases.

    Each case is one person's burst within 2 hours (one task); one person's cases are 3 days apart;
    1 in 8 warnings is re-delivered. Returns the warnings in arrival order and, per task (its sorted
    alert keys), the expected level, amount, sources and version.
    """
    rng = random.Random(seed)
    cases: list[list[dict[str, Any]]] = []
    count = 0
    person = 0
    while count < warnings:
        person += 1
        id_number = make_id_number(
            birth=f"19{50 + person % 50:02d}0{1 + person % 9}1{person % 9}", sequence=person % 1000
        )
        for case in range(rng.choice([1, 1, 1, 2])):
            start = 60 * 24 * 10 - case * 60 * 24 * 3  # minutes ago: the person's cases are 3 days apart
            burst = []
            for n in range(rng.choice([1, 1, 2, 3, 4])):
                source = SOURCES[(person + n) % len(SOURCES)]
                burst.append(
                    {
                        "source": source,
                        "source_alert_id": f"P{person}C{case}N{n}",
                        "issued_at": iso_ago(start - n * 20),
                        "level": rng.choice(LEVELS),
                        "fraud_type": "FAKE_INVESTMENT",
                        "station_code": f"S{person % 12:02d}",
                        "region_code": "R330106",
                        "id_number": id_number,
                        "amount_at_risk_fen": rng.randrange(10**7),
                    }
                )
            cases.append(burst)
            count += len(burst)
    expected = {}
    for burst in cases:
        keys = tuple(sorted(f"{w['source']}:{w['source_alert_id']}" for w in burst))
        expected[keys] = {
            "level": max((w["level"] for w in burst), key=LEVELS.index),
            "amount_at_risk_fen": max(w["amount_at_risk_fen"] for w in burst),
            "sources": sorted({w["source"] for w in burst}),
            "version": len(burst),
        }
    # Arrival order: each person's warnings in time order (as upstream sends them), persons interleaved.
    by_person = sorted(
        (w for burst in cases for w in burst), key=lambda w: (w["issued_at"], w["source_alert_id"])
    )
    arrivals = []
    for warning in by_person:
        arrivals.append(warning)
        if rng.random() < 1 / 8:
            arrivals.append(warning)  # an exact re-delivery
    return arrivals, expected


def _ingest(settings: Settings, path: Path) -> None:
    riskalert_ok(settings, "ingest", "alerts", str(path))


def _latest_tasks(settings: Settings) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for read in read_all(settings, settings.topic("tasks")):
        task = read.record
        if task["task_id"] not in latest or task["version"] >= latest[str(task["task_id"])]["version"]:
            latest[str(task["task_id"])] = task
    return latest


def _wait_for(
    settings: Settings,
    expected: dict[tuple[str, ...], dict[str, Any]],
    worker: WorkerProcess,
    timeout: float = 240,
) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    latest: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline:
        worker.assert_running()
        latest = _latest_tasks(settings)
        done = sum(
            1
            for task in latest.values()
            if task["version"] >= expected.get(tuple(task["alert_keys"]), {}).get("version", 10**9)
        )
        if len(latest) >= len(expected) and done == len(expected):
            return latest
        time.sleep(2)
    return latest


def _check(latest: dict[str, dict[str, Any]], expected: dict[tuple[str, ...], dict[str, Any]]) -> None:
    got = {tuple(task["alert_keys"]): task for task in latest.values()}
    assert len(latest) == len(expected), "tasks lost or duplicated"
    assert set(got) == set(expected)
    for keys, want in expected.items():
        task = got[keys]
        assert (task["level"], task["amount_at_risk_fen"], task["sources"], task["version"]) == (
            want["level"],
            want["amount_at_risk_fen"],
            want["sources"],
            want["version"],
        ), keys


def _faust_series(worker: WorkerProcess, topic: str, warnings: int, timeout: float = 30) -> dict[str, float]:
    """Faust's sensor series on the worker's /metrics, once it has read every warning (or timed out)."""
    received = f'riskalert_faust_messages_received_per_topic_total{{topic="{topic}"}} '
    updated = 'riskalert_faust_table_operations_total{operation="keys_updated",table="table.persons"} '
    deadline = time.monotonic() + timeout
    while True:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=10) as response:
            lines = response.read().decode().splitlines()
        series = {
            name: float(line.removeprefix(prefix))
            for name, prefix in (("received", received), ("persons_updated", updated))
            for line in lines
            if line.startswith(prefix)
        }
        if series.get("received") == warnings or time.monotonic() > deadline:
            return series
        time.sleep(1)


def _write(path: Path, warnings: list[dict[str, Any]]) -> None:
    path.write_text("\n".join(json.dumps(w) for w in warnings) + "\n")


def test_ten_thousand_warnings_give_exactly_the_expected_tasks(isolated: Settings, tmp_path: Path) -> None:
    warnings, expected = _scenario(10_000)
    path = tmp_path / "alerts.jsonl"
    _write(path, warnings)
    with running_worker(isolated, tmp_path) as worker:
        _ingest(isolated, path)
        latest = _wait_for(isolated, expected, worker)
        faust_series = _faust_series(worker, isolated.topic("alerts.raw"), len(warnings))
        assert worker.stop() == 0  # a graceful SIGTERM shutdown
    _check(latest, expected)
    # Faust's own sensor is exported: every warning read, the person table written.
    assert faust_series["received"] == len(warnings)
    assert faust_series["persons_updated"] >= len(expected)
    # Every partition's RocksDB runs with the bounded memtables (RISKALERT_WORKER_ROCKSDB_*).
    options = [path.read_text() for path in (tmp_path / "worker").glob("v1/tables/persons-*.db/OPTIONS-*")]
    assert options
    assert all("  write_buffer_size=16777216\n" in text for text in options)
    assert all("  max_write_buffer_number=2\n" in text for text in options)
    raw_count = len(read_all(isolated, isolated.topic("alerts.raw")))
    assert raw_count == len(warnings)
    assert "Traceback" not in worker.log()


def test_kill_9_mid_stream_loses_and_duplicates_nothing(isolated: Settings, tmp_path: Path) -> None:
    warnings, expected = _scenario(10_000, seed=23)
    path = tmp_path / "alerts.jsonl"
    _write(path, warnings)
    worker = WorkerProcess(isolated, tmp_path / "worker")
    worker.start()
    try:
        _ingest(isolated, path)
        emitted = _wait_until_some_tasks(isolated, minimum=len(expected) // 4)
        worker.kill9()
        total_versions = sum(want["version"] for want in expected.values())
        assert emitted < total_versions // 2, "the kill came too late to interrupt anything"
        worker.start()
        latest = _wait_for(isolated, expected, worker)
    finally:
        worker.stop()
    _check(latest, expected)


def _wait_until_some_tasks(settings: Settings, minimum: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        size = topic_size(settings, settings.topic("tasks"))
        if size >= minimum:
            return size
        time.sleep(0.05)
    raise AssertionError(f"fewer than {minimum} task versions after {timeout}s")
