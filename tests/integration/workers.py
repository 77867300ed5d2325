"""Real `riskalert worker` processes for integration tests: start, wait ready, kill -9, stop."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from streams.agents.sink import INPUTS
from streams.settings import Settings
from tests.integration.cli import RISKALERT

READY_LINE = "Worker ready"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class WorkerProcess:
    """One worker process with a private data dir and port; restartable on the same state."""

    def __init__(self, settings: Settings, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.port = free_port()
        self.log_path = data_dir.parent / f"{data_dir.name}.log"
        self.env = {
            **os.environ,
            "RISKALERT_TOPIC_PREFIX": settings.topic_prefix,
            "RISKALERT_WORKER_DATA_DIR": str(data_dir),
            "RISKALERT_METRICS_PORT": str(self.port),
            "RISKALERT_WORKER_STANDBY_REPLICAS": "0",
            # The pager runs in every worker; tests that do not look at pages keep them out of the
            # stack's Alertmanager (nothing listens on the discard port: the pager retries quietly).
            "RISKALERT_ALERTMANAGER_URL": "http://127.0.0.1:9",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, timeout_seconds: float = 90.0) -> None:
        """Start the worker and wait until Faust reports it ready."""
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n=== start {self.starts} ===\n".encode())
        log.flush()
        self.process = subprocess.Popen(
            [RISKALERT, "worker"], stdout=log, stderr=subprocess.STDOUT, env=self.env
        )
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.tail()}")
            if self.log().count(READY_LINE) >= self.starts:
                return
            time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout_seconds}s:\n{self.tail()}")

    def assert_running(self) -> None:
        """Fail at once, with the log, if the worker died."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.tail()}")

    def kill9(self) -> None:
        """SIGKILL: no shutdown, no commit, no flush."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM and wait for the graceful shutdown; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


@contextmanager
def running_worker(settings: Settings, tmp_path: Path, name: str = "worker") -> Iterator[WorkerProcess]:
    """A started worker, stopped (or killed) at the end."""
    worker = WorkerProcess(settings, tmp_path / name)
    worker.start()
    try:
        yield worker
    finally:
        if worker.process is not None and worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait(timeout=30)


def sink_worker(settings: Settings, tmp_path: Path, name: str, dsn: str, **env: str) -> WorkerProcess:
    """A sink worker (`--stages sink`) on `dsn`, with small, quick batches; started by the caller."""
    worker = WorkerProcess(settings, tmp_path / name)
    worker.env.update(
        {
            "RISKALERT_WORKER_STAGES": '["sink"]',
            "RISKALERT_SINK_METRICS_PORT": str(worker.port),
            "RISKALERT_METRICS_PORT": str(free_port()),  # unused by the sink; must differ from its port
            "RISKALERT_CLICKHOUSE_DSN": dsn,
            "RISKALERT_SINK_BATCH_ROWS": "100",
            "RISKALERT_SINK_BATCH_SECONDS": "0.1",
            "RISKALERT_SINK_RETRY_MAX_SECONDS": "1",
            # A killed member's partitions move on after this; the default 20 s only slows the test.
            "RISKALERT_WORKER_SESSION_TIMEOUT_SECONDS": "6",
            **env,
        }
    )
    return worker


def sink_metrics(worker: WorkerProcess) -> dict[str, float]:
    """The worker's sink metrics: `name{labels}` -> value."""
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as response:
        text = response.read().decode()
    pattern = re.compile(r"^(riskalert_sink_\w+(?:\{[^}]*\})?) (\S+)$", re.MULTILINE)
    return {name: float(value) for name, value in pattern.findall(text)}


def metric_sum(metrics: dict[str, float], prefix: str) -> float:
    """The sum of the series whose `name{labels}` starts with `prefix`."""
    return sum(value for name, value in metrics.items() if name.startswith(prefix))


def sink_lag(settings: Settings, consumer: Consumer | None = None) -> int:
    """Records in the sink's inputs past its committed offsets (asked through `consumer`, if given, or
    a consumer made and closed for the call)."""
    asking = consumer or Consumer(
        {**settings.kafka_client_config(), "group.id": f"{settings.topic_prefix}riskalert-sink"}
    )
    try:
        lag = 0
        for logical in INPUTS:
            topic = settings.topic(logical)
            partitions = asking.list_topics(topic, timeout=10).topics[topic].partitions
            tps = [TopicPartition(topic, p) for p in partitions]
            for tp in asking.committed(tps, timeout=10):
                _, high = asking.get_watermark_offsets(tp, timeout=10)
                lag += high - max(tp.offset, 0)
        return lag
    finally:
        if consumer is None:
            asking.close()
