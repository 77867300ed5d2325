"""The shipped Prometheus and Alertmanager configs pass the real tools."""

from __future__ import annotations

import subprocess
from pathlib import Path

from streams.settings import PROJECT_ROOT, Settings

DEPLOY = PROJECT_ROOT / "deploy"


def _tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, check=False)


def test_amtool_accepts_the_alertmanager_config() -> None:
    result = _tool("amtool", "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    assert "1 templates" in result.stdout


def test_promtool_accepts_the_shipped_and_the_rendered_prometheus_config(settings: Settings) -> None:
    for config in (DEPLOY / "prometheus" / "prometheus.yml", settings.home / "prometheus" / "prometheus.yml"):
        result = _tool("promtool", "check", "config", str(config))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "rule files found" in result.stdout


def test_every_rule_file_passes_promtool_and_has_unit_tests() -> None:
    rule_files = sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
    assert rule_files
    result = _tool("promtool", "check", "rules", *map(str, rule_files))
    assert result.returncode == 0, result.stdout + result.stderr
    test_files = sorted((PROJECT_ROOT / "tests" / "prometheus").glob("*_test.yml"))
    tested = {
        Path(line.split()[-1]).name
        for f in test_files
        for line in f.read_text().splitlines()
        if line.strip().startswith("- ") and line.strip().endswith(".yml") and "rules" in line
    }
    assert {f.name for f in rule_files} <= tested
    result = _tool("promtool", "test", "rules", *map(str, test_files))
    assert result.returncode == 0, result.stdout + result.stderr
