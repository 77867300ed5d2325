"""Dedup worker throughput: alerts/s from alerts.raw to tasks, against a bare aiokafka loop.

In one run: N generated warnings are ingested into a private set of topics; a bare aiokafka
consume -> produce loop copies them to a scratch topic (the floor any Kafka stage pays); then a real
`riskalert worker` process starts on the same topics and is timed from "ready" until every task
version is in `tasks`. Also reports the worker's table state per person, scaled to 1M persons.

Usage (repository root, stack up): .venv/bin/python -m bench.dedup [--warnings 60000] [--dedup-only]
Targets (issue 4): >= 5,000 alerts/s per worker process and >= 0.3 of the bare loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from bench.common import header, private_topics
from bench.ingest import generate
from streams.ingest.files import ingest_file
from streams.ingest.gateway import RecordKind
from streams.settings import Settings
from tests.integration.kafka_io import topic_size
from tests.integration.workers import WorkerProcess


async def bare_loop(settings: Settings, count: int) -> float:
    """Consume alerts.raw and produce every value unchanged to a scratch topic; returns records/s."""
    scratch = settings.topic("bench.scratch")
    admin = AdminClient(settings.kafka_client_config())
    admin.create_topics([NewTopic(scratch, num_partitions=settings.topic_partitions, replication_factor=1)])[
        scratch
    ].result(timeout=30)
    consumer = AIOKafkaConsumer(
        settings.topic("alerts.raw"),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"bare-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    try:
        seen = 0
        start = time.perf_counter()
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            for messages in batches.values():
                for message in messages:
                    await producer.send(scratch, key=message.key, value=message.value)
                seen += len(messages)
            await consumer.commit()
        await producer.flush()
        return count / (time.perf_counter() - start)
    finally:
        await producer.stop()
        await consumer.stop()


def expected_versions(path: Path) -> int:
    """Task versions the worker will emit: one per distinct warning (each opens or merges a task)."""
    keys = {(r["source"], r["source_alert_id"]) for r in map(json.loads, path.read_text().splitlines())}
    return len(keys)


def rss_bytes(pid: int) -> int:
    """Resident memory of a process."""
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def pipeline(settings: Settings, versions: int, tmp: Path, stages: str) -> tuple[float, float, int, int]:
    """Start a worker on the filled topics.

    Returns alerts/s, seconds, the state bytes on disk, and the growth of resident memory from
    "ready" (empty tables) to the end (every person's state loaded).
    """
    shutil.rmtree(tmp / "worker", ignore_errors=True)
    worker = WorkerProcess(settings, tmp / "worker", env={"RISKALERT_WORKER_STAGES": stages})
    worker.start(timeout_seconds=120)
    assert worker.process is not None
    rss_ready = rss_bytes(worker.process.pid)
    start = time.perf_counter()
    try:
        while topic_size(settings, settings.topic("tasks")) < versions:
            worker.assert_running()
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
        rss_growth = rss_bytes(worker.process.pid) - rss_ready
    finally:
        worker.stop()
    state_bytes = sum(f.stat().st_size for f in (tmp / "worker").rglob("*") if f.is_file())
    return versions / elapsed, elapsed, state_bytes, rss_growth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warnings", type=int, default=60_000)
    parser.add_argument(
        "--dedup-only", action="store_true", help="skip the second run with every stage (big state runs)"
    )
    args = parser.parse_args()
    header("dedup: alerts.raw -> dedup+enrich worker -> tasks", "bench.dedup")
    with tempfile.TemporaryDirectory() as tmp_name, private_topics() as settings:
        tmp = Path(tmp_name)
        path = tmp / "alerts.jsonl"
        generate(path, args.warnings)
        summary = ingest_file(settings, RecordKind.ALERT, str(path))
        versions = expected_versions(path)
        persons = args.warnings // 2
        print(f"input: {summary.accepted} warnings in alerts.raw ({versions} distinct, ~{persons} persons)")
        bare = asyncio.run(bare_loop(settings, summary.accepted))
        rate, elapsed, state_bytes, rss_growth = pipeline(settings, versions, tmp, '["dedup"]')
        full_elapsed = None
        if not args.dedup_only:
            with private_topics() as full:
                # The same input through a worker running every stage (the SLA stage times each task too).
                ingest_file(full, RecordKind.ALERT, str(path))
                _, full_elapsed, _, _ = pipeline(full, versions, tmp, '["dedup", "sla"]')
    alerts_rate = summary.accepted / elapsed
    print(f"bare aiokafka consume->produce : {bare:10,.0f} records/s")
    print(f"dedup stage worker             : {alerts_rate:10,.0f} alerts/s ({rate:,.0f} task versions/s)")
    print(f"ratio dedup worker/bare        : {alerts_rate / bare:10.2f}")
    if full_elapsed is not None:
        print(f"worker with every stage        : {summary.accepted / full_elapsed:10,.0f} alerts/s")
    print(
        f"table state on disk            : {state_bytes / 2**20:.1f} MiB for ~{persons} persons "
        f"= {state_bytes / persons * 1e6 / 2**30:.2f} GiB per 1M persons"
    )
    print(
        f"resident memory growth         : {rss_growth / 2**20:.1f} MiB for ~{persons} persons "
        f"= {rss_growth / persons * 1e6 / 2**30:.2f} GiB per 1M persons (RocksDB caches, not a hard bound)"
    )
    met = alerts_rate >= 5000 and alerts_rate / bare >= 0.3
    print(f"targets >= 5,000 alerts/s and >= 0.3 of bare: {'MET' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
