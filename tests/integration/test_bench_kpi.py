"""bench/kpi.py runs end to end at a small scale (the 10M-task run is in docs/benchmarks.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from streams.kpi.queries import ALL_QUERIES

PERIODS = ("today", "7 days", "30 days", "30 days, one station", "30 days, level HIGH", "365 days")


def test_the_kpi_benchmark_runs_at_a_small_scale(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bench.kpi", "--tasks", "10000", "--chunk", "5000", "--repeat", "1"]
    command += ["--path", str(tmp_path / "chdb")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("machine facts: nproc") for line in lines)
    assert any(line.split()[:1] == ["kpi_task_facts_by_day"] for line in lines)  # rows vary with merges
    for name in ALL_QUERIES:
        for period in PERIODS:
            assert any(line.startswith(f"{name:<16} {period:<24}") for line in lines), (name, period)
    assert any("target every query <= 300 ms" in line for line in lines)
