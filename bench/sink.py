"""ClickHouse sink throughput: rows/s from Kafka into chDB, against a bare consume loop and bare inserts.

In one run: N records (warnings, task versions, task events, SLA events in a fixed mix) are written to a
private set of topics. Then, on the same data:
1. a bare librdkafka loop consumes and Avro-decodes every record (the floor of reading them);
2. the same rows are inserted straight into a scratch chDB database, 10,000 per insert (the floor of
   writing them);
3. a real `riskalert worker --stages sink` process starts on a fresh chDB path and is timed from "ready"
   until its consumer group has committed every record.

Usage (repository root, stack up): .venv/bin/python -m bench.sink [--records 200000]
Target (issue 6): >= 50,000 rows/s into chDB from Kafka.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer

from bench.common import header, private_topics
from streams.agents.sink import INPUTS
from streams.codec import default_codec
from streams.producer import CheckedProducer
from streams.settings import Settings
from tests.integration.workers import metric_sum, sink_lag, sink_metrics, sink_worker
from tests.support import alert_record, ms_ago, sla_event_record, task_event_record, task_record

# Per task: 2 warnings, 2 task versions, 4 task events, 3 SLA events.
EVENT_KINDS = ("RECEIVED", "DISPATCHED", "VERIFIED", "FEEDBACK")
SLA_KINDS = ("AT_RISK_50", "MET", "MET_LATE")
RECORDS_PER_TASK = 2 + 2 + len(EVENT_KINDS) + len(SLA_KINDS)
POLL_SECONDS = 0.1


def produce(settings: Settings, records: int) -> int:
    """Write about `records` records in the fixed mix; returns how many were written."""
    codec, producer = default_codec(), CheckedProducer(settings)
    start, written = ms_ago(24 * 60), 0
    for n in range(records // RECORDS_PER_TASK):
        task_id = f"T{n:08d}"
        out = [("alerts.raw", f"{n:064x}", "RawAlert", alert_record(2 * n + i, start + n)) for i in range(2)]
        out += [("tasks", task_id, "Task", task_record(task_id, start + n, version=v)) for v in (1, 2)]
        out += [
            ("tasks.events", task_id, "TaskEvent", task_event_record(task_id, i, kind, start + n + i))
            for i, kind in enumerate(EVENT_KINDS)
        ]
        out += [
            ("sla.events", task_id, "SlaEvent", sla_event_record(task_id, "RECEPTION", kind, start + n))
            for kind in SLA_KINDS
        ]
        for topic, key, record_type, record in out:
            producer.produce(settings.topic(topic), key.encode(), codec.encode(record_type, record))
            written += 1
    producer.flush()
    return written


def bare_consume(settings: Settings, count: int) -> float:
    """Consume and decode every record with librdkafka in batches; returns records/s."""
    codec = default_codec()
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"bench-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([settings.topic(name) for name in INPUTS])
    seen, started = 0, None
    while seen < count:
        for message in consumer.consume(num_messages=10_000, timeout=1.0):
            if message.error() is None:
                started = started or time.perf_counter()
                codec.decode(message.value() or b"")
                seen += 1
    elapsed = time.perf_counter() - (started or time.perf_counter())
    consumer.close()
    return count / elapsed


def bare_insert(count: int) -> float:
    """Insert `count` alert rows straight into a scratch chDB, 10,000 per insert (in a child: chDB owns
    one path per process); returns rows/s."""
    script = f"""
import tempfile, time
from streams.db.client import connect
from streams.db.insert import insert_rows
from streams.db.migrate import migrate
from streams.db import rows
from streams.settings import load_settings
from tests.support import alert_record
settings = load_settings(clickhouse_dsn="chdb://" + tempfile.mkdtemp() + "/db")
migrate(connect(settings, use_database=False), database="riskalert", ttl_days=3650)
client = connect(settings)
position = rows.KafkaPosition("t", 0, 0)
batch = [rows.alert_row(alert_record(n, 1_763_000_000_000 + n), position) for n in range(10_000)]
started = time.perf_counter()
for i in range({count} // 10_000):
    insert_rows(client, "alerts", rows.ALERT_COLUMNS, batch, f"t:0:{{i}}")
print(({count} // 10_000) * 10_000 / (time.perf_counter() - started))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return float(result.stdout.strip().splitlines()[-1])


def run_sink(settings: Settings, count: int, workdir: Path) -> tuple[float, float]:
    """Run the sink worker on the topics until its group committed everything.

    Returns:
        rows/s from "ready" (group join included), and rows/s from its first insert.
    """
    worker = sink_worker(settings, workdir, "sink", f"chdb://{workdir / 'db'}")
    worker.env.update({"RISKALERT_SINK_BATCH_ROWS": "10000", "RISKALERT_SINK_BATCH_SECONDS": "1"})
    worker.start()
    started = time.perf_counter()
    first_insert = None
    # One consumer asks for the lag, every POLL_SECONDS: asking costs the worker nothing, but each
    # /metrics scrape renders every series in the worker's process, so it is scraped only until the
    # first insert shows.
    lag_asker = Consumer(
        {**settings.kafka_client_config(), "group.id": f"{settings.topic_prefix}riskalert-sink"}
    )
    try:
        while first_insert is None:
            worker.assert_running()
            if metric_sum(sink_metrics(worker), "riskalert_sink_rows_total") > 0:
                first_insert = time.perf_counter()
            time.sleep(0.02)
        while sink_lag(settings, lag_asker) > 0:
            worker.assert_running()
            time.sleep(POLL_SECONDS)
        done = time.perf_counter()
        return count / (done - started), count / (done - first_insert)
    finally:
        lag_asker.close()
        worker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    args = parser.parse_args()
    header("ClickHouse sink: rows/s from Kafka into chDB", "bench.sink")
    with private_topics() as settings, tempfile.TemporaryDirectory() as tmp:
        count = produce(settings, args.records)
        print(f"records: {count} (warnings, task versions, task events, SLA events)")
        consume_rate = bare_consume(settings, count)
        print(f"bare consume + decode (librdkafka, one process): {consume_rate:,.0f} records/s")
        insert_rate = bare_insert(count)
        print(f"bare chDB insert (10,000 alert rows per insert): {insert_rate:,.0f} rows/s")
        from_ready, from_first_insert = run_sink(settings, count, Path(tmp))
        print(f"sink worker, Kafka -> chDB, from ready (with group join): {from_ready:,.0f} rows/s")
        print(f"sink worker, from its first insert: {from_first_insert:,.0f} rows/s")
        print(f"ratio sink (from first insert) / bare consume: {from_first_insert / consume_rate:.2f}")


if __name__ == "__main__":
    main()
