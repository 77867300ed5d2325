"""SLA stage figures: live breach-detection delay under load, replay throughput, state per open task.

1. Live: a real `riskalert worker` (wall clock) with a seconds-scale policy; tasks are produced at
   `--rate` new tasks/s for `--seconds`. Every task breaches every step; the delay is each BREACHED
   event's detected_at minus its due_at (the worker stamps a live breach when it finds it).
2. Replay: the integration scenario (tasks, merges, every kind of response, re-feedback), written to
   `tasks`/`tasks.events` first; a worker with `--clock event` is timed from ready until every expected
   SLA event is out. In the same run a bare aiokafka loop consumes the same messages.
3. State: the worker's RocksDB directory after the live run, per task still open.

Usage (repository root, stack up): .venv/bin/python -m bench.sla [--rate 1000] [--seconds 20] [--tasks 4000]
Targets (issue 5): p99 delay <= 1 s at 1,000 new tasks/s; replay >= 5,000 events/s per worker.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from bench.common import header, private_topics
from streams.codec import default_codec
from streams.producer import CheckedProducer
from streams.settings import Settings
from tests.integration.kafka_io import read_all, topic_size
from tests.integration.test_worker_sla import STATIONS, produce, scenario
from tests.integration.workers import WorkerProcess
from tests.support import task_record

# Every step due 4 s after creation: three check times per task (50 %, 75 %, 100 %), like any policy
# whose steps share thresholds; the load is new tasks, ticks and four SLA events per check.
FAST_POLICY = (
    "rules:\n  - name: bench\n    due: {reception: 4s, dispatch: 4s, verification: 4s, feedback: 4s}\n"
)


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def live(settings: Settings, rate: int, seconds: int, tmp: Path) -> tuple[list[int], int, int, float]:
    """Produce `rate` tasks/s; returns breach delays (ms), tasks, state bytes and the achieved rate."""
    policy = tmp / "sla.yaml"
    policy.write_text(FAST_POLICY + "warn_at: [0.5, 0.75]\n")
    worker = WorkerProcess(settings, tmp / "live-worker", env={"RISKALERT_SLA_POLICY": str(policy)})
    worker.start(timeout_seconds=120)
    codec, producer = default_codec(), CheckedProducer(settings)
    total = rate * seconds
    start = time.monotonic()
    try:
        for n in range(total):
            # Pace in 10 ms slices so the load is steady, not one burst per second.
            while n > (time.monotonic() - start) * rate:
                time.sleep(0.001)
            now = time.time_ns() // 1_000_000
            task = task_record(f"L{uuid.uuid4().hex[:20]}", now, station_code=STATIONS[n % len(STATIONS)])
            producer.produce(
                settings.topic("tasks"), key=task["task_id"].encode(), value=codec.encode("Task", task)
            )
        producer.flush()
        achieved = total / (time.monotonic() - start)
        expected = total * 4
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            worker.assert_running()
            breaches = [
                r.record
                for r in read_all(settings, settings.topic("sla.events"))
                if r.record["kind"] == "BREACHED"
            ]
            if len(breaches) >= expected:
                break
            time.sleep(2)
    finally:
        worker.stop()
    state_bytes = sum(f.stat().st_size for f in (tmp / "live-worker").rglob("*") if f.is_file())
    delays = [int(b["detected_at"]) - int(b["due_at"]) for b in breaches]
    return delays, total, state_bytes, achieved


async def bare_consume(settings: Settings, count: int) -> float:
    """Consume `tasks` and `tasks.events` with a bare aiokafka consumer; returns messages/s."""
    consumer = AIOKafkaConsumer(
        settings.topic("tasks"),
        settings.topic("tasks.events"),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"bare-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen, start = 0, time.perf_counter()
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            seen += sum(len(messages) for messages in batches.values())
            await consumer.commit()
        return count / (time.perf_counter() - start)
    finally:
        await consumer.stop()


def replay(settings: Settings, tasks: int, tmp: Path) -> tuple[int, int, float, float]:
    """Returns inputs, expected SLA events, worker seconds and the bare loop's messages/s."""
    messages, expected, _ = scenario(tasks)
    produce(settings, messages)
    bare = asyncio.run(bare_consume(settings, len(messages)))
    worker = WorkerProcess(
        settings,
        tmp / "replay-worker",
        env={"RISKALERT_SLA_CLOCK": "event", "RISKALERT_SLA_ALLOWED_LATENESS_SECONDS": "60"},
    )
    worker.start(timeout_seconds=120)
    start = time.perf_counter()
    try:
        while topic_size(settings, settings.topic("sla.events")) < len(expected):
            worker.assert_running()
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
    finally:
        worker.stop()
    return len(messages), len(expected), elapsed, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=1000, help="new tasks per second in the live run")
    parser.add_argument("--seconds", type=int, default=20, help="length of the live load")
    parser.add_argument("--tasks", type=int, default=4000, help="tasks in the replay scenario")
    args = parser.parse_args()
    header("sla: live breach detection, replay throughput, state per task", "bench.sla")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with private_topics() as settings:
            delays, total, state_bytes, achieved = live(settings, args.rate, args.seconds, tmp)
        with private_topics() as settings:
            inputs, sla_events, elapsed, bare = replay(settings, args.tasks, tmp)
    print(f"live: {total} tasks at {achieved:,.0f}/s (asked {args.rate}/s)")
    print(f"  breaches found: {len(delays)} of {total * 4}")
    p50, p99 = percentile(delays, 0.5), percentile(delays, 0.99)
    print(
        f"  breach detection delay: p50 {p50:,.0f} ms, p99 {p99:,.0f} ms, max {max(delays, default=0):,} ms"
    )
    per_task = state_bytes / max(total, 1)
    print(f"  table state: {state_bytes / 2**20:.1f} MiB for {total} tasks = {per_task:,.0f} bytes per task")
    rate = inputs / elapsed
    print(f"replay: {inputs} inputs ({args.tasks} tasks), {sla_events} SLA events in {elapsed:.1f} s")
    print(f"  worker (event clock)   : {rate:10,.0f} inputs/s ({args.tasks / elapsed:,.0f} tasks/s)")
    print(f"  bare aiokafka consume  : {bare:10,.0f} messages/s")
    print(f"  ratio worker/bare      : {rate / bare:10.2f}")
    p99_met = percentile(delays, 0.99) <= 1000 and len(delays) == total * 4
    live_met = p99_met and achieved >= 0.95 * args.rate
    print(f"target p99 <= 1 s at {args.rate}/s: {'MET' if live_met else 'NOT MET'}")
    print(f"target replay >= 5,000 events/s: {'MET' if rate >= 5000 else 'NOT MET'}")


if __name__ == "__main__":
    main()
