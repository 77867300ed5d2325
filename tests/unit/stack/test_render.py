"""Rendering the shipped configs with the configured ports and paths."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from streams.errors import StackError
from streams.settings import PROJECT_ROOT, Settings
from streams.stack.kafka import render_server_properties
from streams.stack.monitoring import render_prometheus_config

SHIPPED_KAFKA = (PROJECT_ROOT / "deploy" / "kafka" / "server.properties").read_text()
SHIPPED_PROMETHEUS = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_kafka_config_gets_ports_and_absolute_data_dir(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, kafka_port=19092, kafka_controller_port=19098)
    rendered = _properties(render_server_properties(SHIPPED_KAFKA, settings))
    assert rendered["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19098"
    assert rendered["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert rendered["controller.quorum.voters"] == "1@127.0.0.1:19098"
    assert rendered["log.dirs"] == str(tmp_path / "kafka" / "data")
    # Everything else is kept as shipped.
    assert rendered["process.roles"] == "broker,controller"
    assert rendered["auto.create.topics.enable"] == "false"


def test_kafka_config_without_required_keys_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match=r"lacks required keys: .*log\.dirs"):
        render_server_properties("process.roles=broker,controller\n", Settings(home=tmp_path))


def test_prometheus_config_gets_ports_and_rule_paths(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path,
        prometheus_port=19090,
        alertmanager_port=19093,
        metrics_port=16066,
        sink_metrics_port=16067,
    )
    rendered = render_prometheus_config(SHIPPED_PROMETHEUS, settings)
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in rendered["scrape_configs"]}
    assert jobs == {
        "prometheus": ["127.0.0.1:19090"],
        "riskalert-worker": ["127.0.0.1:16066"],
        "riskalert-sink": ["127.0.0.1:16067"],
    }
    assert rendered["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["127.0.0.1:19093"]
    assert rendered["rule_files"] == [str(PROJECT_ROOT / "deploy" / "prometheus" / "rules" / "*.yml")]
    # The shipped dict is not modified.
    assert SHIPPED_PROMETHEUS["rule_files"] == ["rules/*.yml"]


def test_cluster_ids_never_look_like_an_option(tmp_path: Path) -> None:
    from streams.stack.kafka import _cluster_id

    for n in range(300):
        value = _cluster_id(tmp_path / f"id-{n}")
        assert len(value) == 22
        assert not value.startswith("-")


def test_prometheus_config_keeps_the_worker_region_label(tmp_path: Path) -> None:
    # The inhibition rule mutes a region's SLA pages while its workers are down: the label must survive.
    rendered = render_prometheus_config(SHIPPED_PROMETHEUS, Settings(home=tmp_path))
    worker = next(job for job in rendered["scrape_configs"] if job["job_name"] == "riskalert-worker")
    jobs = SHIPPED_PROMETHEUS["scrape_configs"]
    shipped = next(job for job in jobs if job["job_name"] == "riskalert-worker")
    assert worker["static_configs"][0]["labels"] == shipped["static_configs"][0]["labels"]
    assert "region" in worker["static_configs"][0]["labels"]
