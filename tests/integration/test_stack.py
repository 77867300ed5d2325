"""`riskalert stack` runs real services: health, idempotence, clean shutdown, clear failures."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.errors import StackError
from streams.settings import Settings
from streams.stack import process
from streams.stack.process import Service

RISKALERT = str(Path(sys.executable).parent / "riskalert")


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [RISKALERT, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def _processes_mentioning(marker: str) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline:
                pids.append(int(entry.name))
    return pids


def test_status_reports_three_healthy_services() -> None:
    result = _run("stack", "status")
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    services = {line.split("│")[1].strip(): line.split("│")[4].strip() for line in rows}
    assert services == {"kafka": "yes", "alertmanager": "yes", "prometheus": "yes"}


@pytest.fixture
def second_stack(tmp_path: Path, settings: Settings) -> Iterator[dict[str, str]]:
    """A second, private stack on other ports and another home; always torn down."""
    libs = settings.home / "kafka" / "libs"
    home = tmp_path / "home"
    (home / "kafka").mkdir(parents=True)
    (home / "kafka" / "libs").symlink_to(libs)
    env = {
        "RISKALERT_HOME": str(home),
        "RISKALERT_KAFKA_PORT": "19092",
        "RISKALERT_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19092",
        "RISKALERT_KAFKA_CONTROLLER_PORT": "19098",
        "RISKALERT_PROMETHEUS_PORT": "19090",
        "RISKALERT_ALERTMANAGER_PORT": "19093",
        "RISKALERT_KAFKA_HEAP": "384m",
    }
    yield env
    _run("stack", "down", env=env)


def test_up_is_idempotent_and_down_leaves_no_process(second_stack: dict[str, str]) -> None:
    home = second_stack["RISKALERT_HOME"]
    first = _run("stack", "up", env=second_stack)
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stdout.count(": started") == 3
    assert (Path(home) / "kafka" / "data" / "meta.properties").exists()  # storage formatted on first start
    again = _run("stack", "up", env=second_stack)
    assert again.returncode == 0
    assert again.stdout.count("already running") == 3
    assert _run("stack", "status", env=second_stack).returncode == 0
    assert len(_processes_mentioning(home)) == 3

    down = _run("stack", "down", env=second_stack)
    assert down.returncode == 0
    assert down.stdout.count(": stopped") == 3
    assert _processes_mentioning(home) == []
    for port in (19092, 19098, 19090, 19093):
        assert not process.port_in_use(port), port
    status = _run("stack", "status", env=second_stack)
    assert status.returncode == 1
    assert "no" in status.stdout


def test_kafka_log_has_no_missing_binding_warnings(settings: Settings) -> None:
    log = (settings.home / "kafka" / "kafka.log").read_text()
    assert "Kafka Server started" in log or "Kafka startTimeMs" in log
    # What slf4j and log4j print when a binding or appender is missing.
    for warning in ("SLF4J:", "log4j:WARN", "StaticLoggerBinder", "NOPLogger", "No appenders could be found"):
        assert warning not in log


def test_a_taken_port_is_a_clear_error_naming_the_log(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        service = Service(
            name="prometheus",
            port=port,
            argv=["prometheus"],
            marker="x",
            run_dir=tmp_path,
            health=lambda: False,
        )
        with pytest.raises(StackError) as caught:
            process.start(service)
    message = str(caught.value)
    assert f"port 127.0.0.1:{port} is already in use" in message
    assert str(tmp_path / "prometheus.log") in message


def test_a_crashing_service_is_a_clear_error_with_its_log(tmp_path: Path) -> None:
    bad_config = tmp_path / "broken.yml"
    bad_config.write_text("scrape_configs: [this is not: valid")
    service = Service(
        name="prometheus",
        port=19190,
        argv=[
            "prometheus",
            f"--config.file={bad_config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            "--web.listen-address=127.0.0.1:19190",
        ],
        marker=str(bad_config),
        run_dir=tmp_path,
        health=lambda: False,
        start_timeout_seconds=30,
    )
    with pytest.raises(StackError) as caught:
        process.start(service)
    message = str(caught.value)
    assert "prometheus exited during start-up" in message
    assert str(tmp_path / "prometheus.log") in message
    assert "broken.yml" in message  # the log tail shows Prometheus' own complaint
    assert not service.pid_file.exists()
