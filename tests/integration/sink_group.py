"""Several sinks in one consumer group, in one child process, joining while rounds are in flight.

chDB hosts one engine per process and lets one process own a data path, so sink *processes* can share
a group only against a ClickHouse server. Sinks in one process share the embedded engine, so a test can
still make partitions move between group members mid-stream: `python -m tests.integration.sink_group
DSN FAULT_FILE` (topic prefix and sink settings from the environment) starts one sink, lets it insert,
makes inserts into `tasks` fail and, once one has failed, starts a second (so a revocation meets a
failing round, which is given up), lifts the fault, starts a third (a revocation meets a healthy
round, which lands and is committed first), waits until the group has committed every record, stops
them and prints JSON: {"rows": the chdb_dump of the database, "given_up": rounds given up, "members":
sinks that owned partitions}.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import Consumer

from streams import metrics
from streams.agents.sink import Sink, consumer_config
from streams.db.client import connect
from streams.db.migrate import migrate
from streams.producer import CheckedProducer
from streams.settings import Settings, load_settings
from tests.integration.chdb_dump import dump
from tests.integration.workers import sink_lag

TIMEOUT_SECONDS = 120


def _counter(counter: object, name: str) -> float:
    return sum(
        sample.value
        for family in counter.collect()  # type: ignore[attr-defined]
        for sample in family.samples
        if sample.name == name
    )


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Member:
    """One sink of the group, on its own thread, with its own clients and consumer."""

    def __init__(self, settings: Settings, group: str) -> None:
        self.sink = Sink(
            settings,
            connect(settings),
            Consumer(consumer_config(settings, group)),
            CheckedProducer(settings),
            reader=connect(settings),
        )
        self.owned_any = False
        self.thread = threading.Thread(target=self.sink.run, daemon=True)
        self.thread.start()

    def owns_partitions(self) -> bool:
        self.owned_any = self.owned_any or bool(self.sink.assigned)
        return bool(self.sink.assigned)

    def stop(self) -> None:
        self.sink.stopping.set()
        self.thread.join(timeout=60)
        if self.thread.is_alive():
            raise TimeoutError("a sink did not stop")


def main(dsn: str, fault_file: Path) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(message)s")
    settings = load_settings(clickhouse_dsn=dsn, sink_fault_file=fault_file)
    bootstrap = connect(settings, use_database=False)
    migrate(bootstrap, database=settings.clickhouse.database, ttl_days=3650)
    bootstrap.close()
    group = f"{settings.topic_prefix}riskalert-sink"
    rows = lambda: _counter(metrics.SINK_ROWS, "riskalert_sink_rows_total")  # noqa: E731
    failures = lambda: _counter(metrics.SINK_FAILURES, "riskalert_sink_failures_total")  # noqa: E731

    first = Member(settings, group)
    _wait(lambda: rows() >= 1000, "the first sink's inserts")
    fault_file.write_text("tasks\n")
    _wait(lambda: failures() > 0, "an insert into tasks to fail")
    second = Member(settings, group)  # its join revokes the first sink's partitions mid-retry
    _wait(lambda: first.owns_partitions() and second.owns_partitions(), "the group to split")
    time.sleep(1.0)
    fault_file.unlink()
    third = Member(settings, group)
    members = (first, second, third)
    _wait(lambda: all(m.owns_partitions() for m in members), "the group to split three ways")
    try:
        _wait(lambda: sink_lag(settings) == 0, "the group to commit every record")
    except TimeoutError:
        for n, member in enumerate(members):
            sink = member.sink
            queued = {f"{t}[{p}]": b.pending for (t, p), b in sink.batchers.items() if b.pending}
            logging.error(
                "member %d: alive %s, assigned %d, paused %s, failing %s, in flight %s, queued %s",
                n,
                member.thread.is_alive(),
                len(sink.assigned),
                sink.paused,
                sink.failing.is_set(),
                sink.in_flight,
                queued,
            )
            for (t, p), b in sink.batchers.items():
                logging.error("  %s[%d] journaled %s", t, p, b.journaled)
        raise
    for member in members:
        member.stop()
    given_up = _counter(metrics.SINK_ROUNDS_GIVEN_UP, "riskalert_sink_rounds_given_up_total")
    owners = sum(m.owned_any for m in members)
    json.dump({"rows": dump(dsn), "given_up": given_up, "members": owners}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
