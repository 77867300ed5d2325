"""Background service processes with a pid file, a log file and a health check.

This is how `riskalert stack` runs Kafka, Prometheus and Alertmanager on a developer machine.
A pid file alone is not trusted: the process must be alive and its command line must carry the
service's marker (a path unique to this data directory), so a stale pid reused by another program
is never signalled.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from streams.errors import StackError

LOG_TAIL_LINES = 15


@dataclass(frozen=True)
class Service:
    """How to run and check one background service.

    Attributes:
        name: shown in `stack status`.
        port: the loopback port it serves; must be free before start.
        argv: the command; the first element is looked up on PATH.
        marker: a string that appears in its command line and in no other process's.
        run_dir: where its pid file and log file live.
        health: returns True once the service answers.
        prepare: runs before start (render configs, format storage); may raise StackError.
        start_timeout_seconds: how long to wait for health after launch.
    """

    name: str
    port: int
    argv: list[str]
    marker: str
    run_dir: Path
    health: Callable[[], bool]
    prepare: Callable[[], None] = field(default=lambda: None)
    start_timeout_seconds: float = 60.0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pid_file(self) -> Path:
        """Holds the pid of the running service."""
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        """Receives the service's stdout and stderr."""
        return self.run_dir / f"{self.name}.log"


@dataclass(frozen=True)
class ServiceStatus:
    """One row of `stack status`."""

    name: str
    pid: int | None
    port: int
    healthy: bool
    log_file: Path


def running_pid(service: Service) -> int | None:
    """The pid of this service if it runs; a stale pid file is removed."""
    try:
        pid = int(service.pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    if _alive(pid) and service.marker in _cmdline(pid):
        return pid
    service.pid_file.unlink(missing_ok=True)
    return None


def status(service: Service) -> ServiceStatus:
    """Whether the service runs and answers its health check."""
    pid = running_pid(service)
    healthy = pid is not None and _safe_health(service)
    return ServiceStatus(service.name, pid, service.port, healthy, service.log_file)


def start(service: Service) -> bool:
    """Start the service unless it already runs; wait until it is healthy.

    Returns:
        True if it was started now, False if it was already running.

    Raises:
        StackError: naming the log file, if the port is taken, the process dies or it never gets healthy.
    """
    pid = running_pid(service)
    if pid is not None:
        _wait_healthy(service, pid)
        return False
    if port_in_use(service.port):
        raise StackError(
            f"{service.name}: port 127.0.0.1:{service.port} is already in use by another process; "
            f"stop it or choose another port (see `riskalert --help`). Log: {service.log_file}"
        )
    service.run_dir.mkdir(parents=True, exist_ok=True)
    service.prepare()
    pid = _launch(service)
    _wait_healthy(service, pid)
    return True


def stop(service: Service, timeout_seconds: float = 30.0) -> bool:
    """Stop the service and every process in its group: SIGTERM, then SIGKILL after the timeout.

    Returns:
        True if a running process was stopped, False if none was running.
    """
    pid = running_pid(service)
    if pid is None:
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        _signal_group(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.05)
    service.pid_file.unlink(missing_ok=True)
    return True


def port_in_use(port: int) -> bool:
    """True if something listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log yet)"
    return "\n".join(text.splitlines()[-lines:])


def _launch(service: Service) -> int:
    with service.log_file.open("ab") as log:
        log.write(f"\n--- riskalert stack: starting {service.name} at {time.ctime()} ---\n".encode())
        log.flush()
        try:
            # A new session: the service outlives this CLI and is stopped as a whole group.
            process = subprocess.Popen(
                service.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, **service.env},
            )
        except OSError as exc:
            command = service.argv[0]
            raise StackError(f"{service.name}: cannot run {command!r}: {exc}. Run `make setup`.") from exc
    service.pid_file.write_text(f"{process.pid}\n")
    return process.pid


def _wait_healthy(service: Service, pid: int) -> None:
    deadline = time.monotonic() + service.start_timeout_seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            service.pid_file.unlink(missing_ok=True)
            raise StackError(
                f"{service.name} exited during start-up. "
                f"Log: {service.log_file}\n{log_tail(service.log_file)}"
            )
        if _safe_health(service):
            return
        time.sleep(0.25)
    _signal_group(pid, signal.SIGKILL)
    service.pid_file.unlink(missing_ok=True)
    raise StackError(
        f"{service.name} did not become healthy within {service.start_timeout_seconds:.0f}s and was killed. "
        f"Log: {service.log_file}\n{log_tail(service.log_file)}"
    )


def _safe_health(service: Service) -> bool:
    try:
        return service.health()
    except Exception:  # a health probe that raises means "not healthy yet", never a crash
        return False


def _alive(pid: int) -> bool:
    """True if the pid runs and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    # The state letter follows the parenthesised command name, which may itself hold spaces.
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, sig)
