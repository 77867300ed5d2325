"""Prometheus and Alertmanager from Debian's packages, configured from deploy/.

The shipped configs are valid as they are (promtool and amtool check them). For the local stack,
Prometheus' config is rendered to `<home>/prometheus/prometheus.yml` with the configured ports and
absolute rule paths; Alertmanager's config carries no ports and is used as shipped.
"""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from streams.errors import StackError
from streams.settings import Settings
from streams.stack.process import Service

PROMETHEUS_BINARY = "prometheus"
ALERTMANAGER_BINARY = "prometheus-alertmanager"  # Debian's name for the alertmanager binary
PROMETHEUS_JOB = "prometheus"
WORKER_JOB = "riskalert-worker"
SINK_JOB = "riskalert-sink"


def http_ready(url: str, timeout_seconds: float = 2.0) -> bool:
    """True when GET url answers 200 (the /-/ready endpoints of Prometheus and Alertmanager)."""
    with urllib.request.urlopen(url, timeout=timeout_seconds) as response:  # noqa: S310  # fixed http URL
        return int(response.status) == 200


def render_prometheus_config(shipped: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The shipped Prometheus config with local ports and absolute rule file paths.

    Raises:
        StackError: if the shipped config lacks the jobs or Alertmanager entry the stack fills in.
    """
    config: dict[str, Any] = yaml.safe_load(yaml.safe_dump(shipped))  # a deep copy
    targets = {
        PROMETHEUS_JOB: [f"127.0.0.1:{settings.prometheus_port}"],
        WORKER_JOB: [f"127.0.0.1:{settings.metrics_port}"],
        SINK_JOB: [f"127.0.0.1:{settings.sink_metrics_port}"],
    }
    jobs = {job["job_name"]: job for job in config.get("scrape_configs", [])}
    for name, job_targets in targets.items():
        if name not in jobs:
            raise StackError(f"deploy/prometheus/prometheus.yml has no scrape job {name!r}")
        # Keep the shipped target labels (the workers' `region`, which the inhibition rule matches on).
        shipped_labels = (jobs[name].get("static_configs") or [{}])[0].get("labels")
        jobs[name]["static_configs"] = [
            {"targets": job_targets, **({"labels": shipped_labels} if shipped_labels else {})}
        ]
    try:
        alertmanager = config["alerting"]["alertmanagers"][0]
    except (KeyError, IndexError, TypeError) as exc:
        raise StackError("deploy/prometheus/prometheus.yml has no alerting.alertmanagers entry") from exc
    alertmanager["static_configs"] = [{"targets": [f"127.0.0.1:{settings.alertmanager_port}"]}]
    rules_dir = settings.deploy_dir / "prometheus"
    config["rule_files"] = [str(rules_dir / pattern) for pattern in config.get("rule_files", [])]
    return config


def prometheus_service(settings: Settings) -> Service:
    """Prometheus as a background service of `riskalert stack`."""
    base = settings.home / "prometheus"
    config = base / "prometheus.yml"
    return Service(
        name="prometheus",
        port=settings.prometheus_port,
        argv=[
            PROMETHEUS_BINARY,
            f"--config.file={config}",
            f"--storage.tsdb.path={base / 'data'}",
            f"--web.listen-address=127.0.0.1:{settings.prometheus_port}",
            "--storage.tsdb.retention.time=15d",
            "--web.enable-lifecycle",
        ],
        marker=str(config),
        run_dir=base,
        health=lambda: http_ready(f"http://127.0.0.1:{settings.prometheus_port}/-/ready"),
        prepare=lambda: _prepare_prometheus(settings, config),
    )


def alertmanager_service(settings: Settings) -> Service:
    """Alertmanager as a background service of `riskalert stack`."""
    base = settings.home / "alertmanager"
    storage = base / "data"
    return Service(
        name="alertmanager",
        port=settings.alertmanager_port,
        argv=[
            ALERTMANAGER_BINARY,
            f"--config.file={settings.deploy_dir / 'alertmanager' / 'alertmanager.yml'}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{settings.alertmanager_port}",
            f"--web.external-url=http://127.0.0.1:{settings.alertmanager_port}",
            # One local instance: no gossip cluster, so no extra port is opened.
            "--cluster.listen-address=",
        ],
        marker=str(storage),
        run_dir=base,
        health=lambda: http_ready(f"http://127.0.0.1:{settings.alertmanager_port}/-/ready"),
        prepare=lambda: _prepare_alertmanager(settings, storage),
    )


def _require_binary(name: str, package: str) -> None:
    if shutil.which(name) is None:
        raise StackError(f"{name} is not installed: run `make setup` (installs Debian's {package})")


def _prepare_prometheus(settings: Settings, config_path: Path) -> None:
    _require_binary(PROMETHEUS_BINARY, "prometheus")
    shipped = yaml.safe_load((settings.deploy_dir / "prometheus" / "prometheus.yml").read_text())
    config_path.write_text(yaml.safe_dump(render_prometheus_config(shipped, settings), sort_keys=False))


def _prepare_alertmanager(settings: Settings, storage: Path) -> None:
    _require_binary(ALERTMANAGER_BINARY, "prometheus-alertmanager")
    # Debian builds Alertmanager without embedded templates: it reads its defaults from this file.
    default_templates = Path("/usr/share/prometheus/alertmanager/default.tmpl")
    if not default_templates.exists():
        raise StackError(f"{default_templates} is missing: reinstall Debian's prometheus-alertmanager")
    storage.mkdir(parents=True, exist_ok=True)
