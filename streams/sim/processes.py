"""The demo's worker processes (`riskalert worker ...`) and their metrics."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from streams.errors import RiskAlertError

READY_LINE = "Worker ready"
STOP_TIMEOUT_SECONDS = 60


class DemoError(RiskAlertError):
    """The demo could not run a step; the message says which and where its log is."""


class WorkerProcess:
    """One `riskalert worker` child process with its own log file."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], log_path: Path, port: int) -> None:
        self.name, self.args, self.env, self.log_path, self.port = name, args, dict(env), log_path, port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process (its output goes to the log file)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        riskalert = str(Path(sys.executable).parent / "riskalert")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # our own command, fixed arguments
                [riskalert, "worker", *self.args], stdout=log, stderr=subprocess.STDOUT, env=self.env
            )

    def wait_ready(self, timeout_seconds: float, log_line: str | None = None) -> None:
        """Wait until the log shows `log_line`, or else /metrics answers.

        Raises:
            DemoError: the process exited or was not ready in time (with its log's tail).
        """
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            self.check_running()
            if log_line is not None and log_line in self.log():
                return
            if log_line is None and self.metrics_text() is not None:
                return
            time.sleep(0.3)
        raise DemoError(
            f"{self.name} not ready after {timeout_seconds:.0f} s; its log {self.log_path}:\n{self.tail()}"
        )

    def check_running(self) -> None:
        """Raise if the process has exited."""
        if self.process is not None and self.process.poll() is not None:
            status = self.process.returncode
            raise DemoError(f"{self.name} exited with status {status}; log {self.log_path}:\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM and wait for a graceful shutdown (SIGKILL after a minute)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)

    def metrics_text(self) -> str | None:
        """The process's /metrics, or None when it does not answer."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.port}/metrics", timeout=2
            ) as response:  # loopback
                return str(response.read().decode())
        except (urllib.error.URLError, OSError):
            return None

    def metrics(self) -> dict[str, float]:
        """`name{label="value",...}` -> value of every riskalert sample (empty when it does not answer)."""
        text = self.metrics_text()
        return parse_metrics(text) if text else {}

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])


def parse_metrics(text: str) -> dict[str, float]:
    """Prometheus text -> `name{label="value",...}` -> value, riskalert's series only.

    A line scan, not prometheus_client's parser: the live view reads the workers a few times a
    second, and their SLA counters have a series per kind, step, level and station.
    """
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("riskalert_"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        if name.endswith("_created"):
            continue
        try:
            samples[series if "{" in series else series + "{}"] = float(value)
        except ValueError:
            continue
    return samples


def metric(samples: Mapping[str, float], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    return sum(
        value
        for series, value in samples.items()
        if series.startswith(name + "{") and all(label in series for label in wanted)
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment with `overrides`."""
    return {**os.environ, **overrides}
