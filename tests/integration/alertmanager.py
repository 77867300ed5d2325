"""A throw-away Alertmanager (Debian's binary, not the stack's) and a webhook server that captures its
notifications, for tests of the shipped config (test_ops_configs.py) and of the pager (test_pager.py).

The Alertmanager runs the shipped `deploy/alertmanager/alertmanager.yml` with only the placeholder
webhook URLs pointed at the capture server and, optionally, its group timings shortened.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from streams.settings import PROJECT_ROOT

ALERTMANAGER_DIR = PROJECT_ROOT / "deploy" / "alertmanager"
ALERTMANAGER_CONFIG = ALERTMANAGER_DIR / "alertmanager.yml"
PLACEHOLDER_WEBHOOK = "http://127.0.0.1:9095"


@dataclass(frozen=True)
class Notification:
    """One webhook request: the receiver's path, Alertmanager's JSON and the raw body."""

    path: str
    payload: dict[str, Any]
    body: bytes


@dataclass
class Webhooks:
    """Notifications received by the capture server."""

    notifications: list[Notification] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def received(self) -> list[tuple[str, dict[str, str]]]:
        """(receiver path, alert labels) per alert of every notification."""
        return [(n.path, alert["labels"]) for n in self.snapshot() for alert in n.payload["alerts"]]

    def snapshot(self) -> list[Notification]:
        with self.lock:
            return list(self.notifications)

    def task_keys(self, path: str | None = None) -> set[str]:
        return {labels.get("task_key", "") for p, labels in self.received if path in (None, p)}


def webhook_server(webhooks: Webhooks) -> ThreadingHTTPServer:
    """A loopback HTTP server recording every POST into `webhooks`; shut it down after use."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with webhooks.lock:
                webhooks.notifications.append(Notification(self.path, json.loads(body), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # no access log on stderr
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def shipped_config(
    capture_url: str, group_wait: str | None = None, group_interval: str | None = None
) -> dict[str, Any]:
    """The shipped config, its webhooks sent to `capture_url`; non-zero group timings replaced if given."""
    shipped = ALERTMANAGER_CONFIG.read_text()
    assert PLACEHOLDER_WEBHOOK in shipped
    config: dict[str, Any] = yaml.safe_load(shipped.replace(PLACEHOLDER_WEBHOOK, capture_url))
    config["templates"] = [str(ALERTMANAGER_DIR / "templates" / "*.tmpl")]

    def shorten(route: dict[str, Any]) -> None:
        if group_wait is not None and route.get("group_wait", "0s") != "0s":
            route["group_wait"] = group_wait
        if group_interval is not None and "group_interval" in route:
            route["group_interval"] = group_interval
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])
    return config


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout_seconds: float, what: str) -> None:
    deadline = time.monotonic() + timeout_seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_seconds}s waiting for {what}")
        time.sleep(0.2)


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


class AlertmanagerProcess:
    """One Alertmanager on a fixed free port and data dir: start, stop and start again on the same state."""

    def __init__(self, base: Path, config: dict[str, Any]) -> None:
        self.base = base
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (base / "alertmanager.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with (self.base / "alertmanager.log").open("a") as log:
            self.process = subprocess.Popen(
                [
                    "prometheus-alertmanager",
                    f"--config.file={self.base / 'alertmanager.yml'}",
                    f"--storage.path={self.base / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--cluster.listen-address=",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        process = self.process
        wait_for(lambda: ready(self.url) or process.poll() is not None, 30, "Alertmanager to be ready")
        assert process.poll() is None, (self.base / "alertmanager.log").read_text()

    def stop(self) -> None:
        """SIGTERM (Alertmanager saves its notification log), SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@dataclass
class Alertmanager:
    """A running Alertmanager's API and the notifications its webhooks received."""

    url: str
    webhooks: Webhooks

    def post(self, *alerts: dict[str, str], resolved: bool = False) -> None:
        """POST alerts (label sets) as active from now, or as resolved a second ago.

        Alertmanager sends a new group at once when its alert started more than group_wait ago, so
        active alerts start now, like a fresh page.
        """
        now = datetime.now(UTC)
        starts = now - timedelta(minutes=1) if resolved else now
        ends = now - timedelta(seconds=1) if resolved else now + timedelta(hours=1)
        body = [
            {"labels": labels, "startsAt": starts.isoformat(), "endsAt": ends.isoformat()}
            for labels in alerts
        ]
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10) as response:
            return list(json.load(response))

    def find(self, **labels: str) -> dict[str, Any]:
        """The one alert whose labels include these."""
        (alert,) = [a for a in self.alerts() if labels.items() <= a["labels"].items()]
        return alert

    def status_of(self, **labels: str) -> dict[str, Any]:
        """The status (state, inhibitedBy, silencedBy) of the one alert whose labels include these."""
        return dict(self.find(**labels)["status"])
