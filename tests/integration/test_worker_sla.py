"""The SLA stage on the real broker: exact SLA events in replay, across two kill -9s, and live timing.

The scenario writes tasks and task events straight to `tasks` and `tasks.events` (as the dedup stage
and ops systems would), 20 days in the past, in time order. Its expected SLA events come from the
closed-form rule of the SLA definition, not from the state machine: a step's threshold (50 %, 75 %,
100 % of its allowance after it started) fires iff the step was not completed by then; a step is MET
iff completed by its due time. A later step's event completes the earlier steps too.
"""

from __future__ import annotations

import random
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

from streams.app import LAG_INTERVAL_SECONDS
from streams.codec import default_codec
from streams.logic.sla_policy import load_policy
from streams.partitioning import kafka_partition
from streams.producer import CheckedProducer
from streams.settings import Settings
from tests.integration.kafka_io import read_all
from tests.integration.workers import WorkerProcess
from tests.support import ms_ago, task_record

MIN = 60_000
STEPS = ("reception", "dispatch", "verification", "feedback")
EVENT_OF = {
    "reception": "RECEIVED",
    "dispatch": "DISPATCHED",
    "verification": "VERIFIED",
    "feedback": "FEEDBACK",
}
LEVELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
# Response profiles, as fractions of each step's allowance after creation (None: never done).
PROFILES: dict[str, dict[str, float | None]] = {
    "prompt": {"reception": 0.2, "dispatch": 0.2, "verification": 0.2, "feedback": 0.2},
    "slow_reception": {"reception": 0.8, "dispatch": 0.9, "verification": 0.4, "feedback": 0.2},
    "late_dispatch": {"reception": 0.3, "dispatch": 1.6, "verification": None, "feedback": 0.3},
    "verified_first": {"reception": None, "dispatch": None, "verification": 0.45, "feedback": 0.6},
    "never_fed_back": {"reception": 0.1, "dispatch": 0.3, "verification": 0.9, "feedback": None},
    "refeedback": {"reception": 0.1, "dispatch": 0.1, "verification": 0.1, "feedback": 0.1},
}
STATIONS = [f"370202-PS{n:02d}" for n in range(1, 13)]


def _allowances(level: str) -> dict[str, int]:
    policy = load_policy(Settings().sla_policy_path)
    return dict(policy.rule_for({"level": level, "sources": ["JZZ"], "fraud_type": "OTHER"}).due_ms)


def _task(task_id: str, created: int, level: str, station: str, version: int = 1) -> dict[str, Any]:
    return task_record(
        task_id,
        created,
        version=version,
        level=level,
        base_level=level,
        station_code=station,
        masked_phone="138****5678",
    )


def _event(task_id: str, kind: str, at: int, n: int) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if kind == "FEEDBACK":
        extra = {"outcome": "DISSUADED", "was_dissuaded": True}
    if kind == "VERIFIED":
        extra = {"verify_method": "FACE_TO_FACE"}
    return {
        "event_id": f"{task_id}-{n:02d}",
        "task_id": task_id,
        "type": kind,
        "occurred_at": at,
        "ingested_at": at,
        **extra,
    }


def _expect_clock(
    task_id: str, step: str, cycle: int, start: int, allowance: int, done: int | None
) -> set[str]:
    expected = set()
    for kind, fraction in (("AT_RISK_50", 0.5), ("AT_RISK_75", 0.75), ("BREACHED", 1.0)):
        if done is None or done > start + int(allowance * fraction):
            expected.add(f"{task_id}:{step}:{cycle}:{kind}")
    if done is not None:
        expected.add(f"{task_id}:{step}:{cycle}:{'MET' if done <= start + allowance else 'MET_LATE'}")
    return expected


def scenario(
    tasks: int, seed: int = 5
) -> tuple[list[tuple[int, str, str, dict[str, Any]]], set[str], set[str]]:
    """Messages (time, topic, record type, record) in time order, expected event ids, sentinel task ids.

    One task per minute; a quarter of the LOW tasks are merged up to HIGH a minute after creation
    (every open step then runs on HIGH's shorter allowances, never longer ones).
    """
    rng = random.Random(seed)
    base = ms_ago(20 * 24 * 60)
    messages: list[tuple[int, str, str, dict[str, Any]]] = []
    expected: set[str] = set()
    profiles = list(PROFILES)
    for n in range(tasks):
        task_id, created = f"T{seed:02d}{n:05d}", base + n * MIN
        level, profile = LEVELS[n % 4], profiles[(n // 4) % len(profiles)]
        station = STATIONS[rng.randrange(len(STATIONS))]
        messages.append((created, "tasks", "Task", _task(task_id, created, level, station)))
        allowances = _allowances(level)
        if level == "LOW" and n % 16 == 3:
            merged = {**_task(task_id, created, "HIGH", station, version=2), "updated_at": created + MIN}
            messages.append((created + MIN, "tasks", "Task", merged))
            allowances = _allowances("HIGH")
        times = {
            s: None if f is None else created + int(allowances[s] * f) for s, f in PROFILES[profile].items()
        }
        for number, step in enumerate(STEPS):
            if times[step] is not None:
                messages.append(
                    (
                        times[step],
                        "tasks.events",
                        "TaskEvent",
                        _event(task_id, EVENT_OF[step], times[step], number),
                    )
                )
        for index, step in enumerate(STEPS):
            later = [
                t
                for s, t in times.items()
                if t is not None and STEPS.index(s) >= index and (index < 3 or s == step)
            ]
            done = min(later) if later else None
            expected |= _expect_clock(task_id, step, 1, created, allowances[step], done)
        if profile == "refeedback":
            first = times["feedback"]
            assert first is not None
            request = first + 10 * MIN
            messages.append(
                (request, "tasks.events", "TaskEvent", _event(task_id, "REFEEDBACK_REQUESTED", request, 7))
            )
            second = request + (allowances["feedback"] // 3 if n % 8 < 4 else 2 * allowances["feedback"])
            messages.append((second, "tasks.events", "TaskEvent", _event(task_id, "FEEDBACK", second, 8)))
            expected |= _expect_clock(task_id, "feedback", 2, request, allowances["feedback"], second)
    sentinels = _sentinels(messages, base + 10 * 24 * 60 * MIN)
    messages.sort(key=lambda message: message[0])
    return messages, expected, sentinels


def _sentinels(messages: list[tuple[int, str, str, dict[str, Any]]], at: int) -> set[str]:
    """A task and an event far after every deadline on each partition, so stream time passes them all."""
    ids: dict[int, str] = {}
    candidate = 0
    while len(ids) < Settings().topic_partitions:
        task_id = f"SENTINEL{candidate}"
        ids.setdefault(kafka_partition(task_id, Settings().topic_partitions), task_id)
        candidate += 1
    for task_id in ids.values():
        messages.append((at, "tasks", "Task", _task(task_id, at, "LOW", STATIONS[0])))
        messages.append((at + 1, "tasks.events", "TaskEvent", _event(task_id, "RECEIVED", at + 1, 0)))
    return set(ids.values())


def produce(settings: Settings, messages: list[tuple[int, str, str, dict[str, Any]]]) -> None:
    codec = default_codec()
    producer = CheckedProducer(settings)
    for _, topic, record_type, record in messages:
        producer.produce(
            settings.topic(topic), key=record["task_id"].encode(), value=codec.encode(record_type, record)
        )
    producer.flush()


def sla_events(settings: Settings) -> list[dict[str, Any]]:
    return [read.record for read in read_all(settings, settings.topic("sla.events"))]


def wait_for(
    settings: Settings, expected: set[str], sentinels: set[str], worker: WorkerProcess, timeout: float = 150
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        worker.assert_running()
        events = sla_events(settings)
        if {e["event_id"] for e in events if e["task_id"] not in sentinels} >= expected:
            time.sleep(3)  # anything extra would arrive now
            return sla_events(settings)
        time.sleep(2)
    return events


def by_id(events: list[dict[str, Any]], sentinels: set[str]) -> dict[str, dict[str, Any]]:
    """One record per event id; re-emissions of an id after a crash must be identical."""
    records: dict[str, dict[str, Any]] = {}
    for record in events:
        if record["task_id"] in sentinels:
            continue
        first = records.setdefault(str(record["event_id"]), record)
        differing = {
            key: (first.get(key), record.get(key))
            for key in first.keys() | record.keys()
            if first.get(key) != record.get(key)
        }
        assert first == record, (
            f"{record['event_id']} re-emitted with different content; differing fields (first, again): "
            f"{differing}\nfirst: {first}\nagain: {record}"
        )
    return records


def event_worker(settings: Settings, path: Path) -> WorkerProcess:
    return WorkerProcess(
        settings, path, env={"RISKALERT_SLA_CLOCK": "event", "RISKALERT_SLA_ALLOWED_LATENESS_SECONDS": "60"}
    )


def test_replay_gives_exactly_the_hand_computed_sla_events(isolated: Settings, tmp_path: Path) -> None:
    messages, expected, sentinels = scenario(240)
    produce(isolated, messages)
    worker = event_worker(isolated, tmp_path / "worker")
    worker.start()
    try:
        events = wait_for(isolated, expected, sentinels, worker)
    finally:
        assert worker.stop() == 0
    got = by_id(events, sentinels)
    assert set(got) == expected
    kinds = {event_id.rsplit(":", 1)[1] for event_id in got}
    assert kinds == {"AT_RISK_50", "AT_RISK_75", "BREACHED", "MET", "MET_LATE"}
    # Replay stamps: a crossing at threshold + 1 ms, so a breach is overdue by exactly 1 ms.
    assert {e["overdue_by_ms"] for e in got.values() if e["kind"] == "BREACHED"} == {1}
    assert "Traceback" not in worker.log()


def test_two_kill_9s_give_the_same_events_none_missing_none_different(
    isolated: Settings, tmp_path: Path
) -> None:
    messages, expected, sentinels = scenario(240, seed=6)
    worker = event_worker(isolated, tmp_path / "worker")
    worker.start()
    try:
        produce(isolated, messages)
        rng = random.Random(6)
        for kill in range(2):
            target = len(expected) * (kill + 1) // 3 + rng.randrange(len(expected) // 10)
            _wait_until(isolated, target, worker)
            worker.kill9()
            worker.start()
        events = wait_for(isolated, expected, sentinels, worker)
    finally:
        worker.stop()
    got = by_id(events, sentinels)
    assert set(got) == expected
    assert len(events) >= len(expected)  # re-emissions (same id, same content) are allowed, losses are not
    assert worker.log().count("=== start") == 3


def _wait_until(settings: Settings, emitted: int, worker: WorkerProcess, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        worker.assert_running()
        if len(sla_events(settings)) >= emitted:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {emitted} SLA events after {timeout}s")


def test_live_clock_emits_breaches_on_time(isolated: Settings, tmp_path: Path) -> None:
    policy = tmp_path / "sla.yaml"
    policy.write_text(
        "rules:\n  - name: fast\n"
        "    due: {reception: 4s, dispatch: 6s, verification: 8s, feedback: 10s}\n"
        "warn_at: [0.5, 0.75]\n"
    )
    worker = WorkerProcess(isolated, tmp_path / "worker", env={"RISKALERT_SLA_POLICY": str(policy)})
    worker.start()
    try:
        now = time.time_ns() // 1_000_000
        tasks = [_task(f"LIVE{n:03d}", now, LEVELS[n % 4], STATIONS[n % 12]) for n in range(30)]
        received = [_event(t["task_id"], "RECEIVED", now + 1_000, 0) for t in tasks[:10]]
        produce(
            isolated,
            [(0, "tasks", "Task", t) for t in tasks]
            + [(0, "tasks.events", "TaskEvent", e) for e in received],
        )
        expected_breaches = 30 * 4 - 10  # every step of every task, but the 10 received in time
        deadline = time.monotonic() + 60
        breaches: list[dict[str, Any]] = []
        while time.monotonic() < deadline and len(breaches) < expected_breaches:
            breaches = [e for e in sla_events(isolated) if e["kind"] == "BREACHED"]
            time.sleep(1)
        time.sleep(LAG_INTERVAL_SECONDS + 1)
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=10) as response:
            exported = response.read().decode()
    finally:
        worker.stop()
    assert f"riskalert_sla_breach_detection_delay_seconds_count {float(len(breaches))}" in exported
    breached = re.findall(
        r'riskalert_sla_events_total\{kind="BREACHED",level="(\w+)",station="([\w-]+)",step="(\w+)"\} (\S+)',
        exported,
    )
    assert sum(float(count) for *_, count in breached) == len(breaches)
    # Lag per actively owned input partition, labelled by stage; everything was consumed.
    lags = re.findall(
        r'riskalert_consumer_lag_records\{partition="(\d)",stage="(\w+)",topic="([^"]+)"\} (\S+)', exported
    )
    assert {(stage, topic) for _, stage, topic, _ in lags} >= {
        ("sla", isolated.topic("tasks")),
        ("dedup", isolated.topic("alerts.raw")),
    }
    assert all(float(lag) == 0 for *_, lag in lags), f"lag left: {[lag for lag in lags if float(lag[3])]}"
    assert len({e["event_id"] for e in breaches}) == expected_breaches
    delays = sorted(e["detected_at"] - e["due_at"] for e in breaches)
    assert delays[0] > 0  # never early
    assert delays[-1] <= 1_000, f"breach detection delays (ms): {delays}"
