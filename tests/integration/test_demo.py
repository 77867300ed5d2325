"""The demo pipeline end to end on a smaller simulated day: every figure equals the ground truth.

Real everything: the local broker, ingest, the replay worker, the sink worker and chDB. The
simulation has merges, re-deliveries, prior victims, re-feedback cycles, breaches on every step and
malformed lines; `run_demo` measures tasks, merges and breaches in ClickHouse and dead letters in
`alerts.dlq`, and compares them with expected.json.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from streams.settings import Settings
from streams.sim.demo import DemoOptions, run_demo
from tests.integration.workers import free_port


def test_demo_measures_exactly_the_simulated_ground_truth(settings: Settings, tmp_path: Path) -> None:
    base = settings.model_copy(update={"metrics_port": free_port(), "sink_metrics_port": free_port()})
    output = io.StringIO()
    console = Console(file=output, width=200, force_terminal=False)
    options = DemoOptions(
        seed=5, seconds=30, cases_per_day=150, malformed_rate=0.02, directory=tmp_path / "demo"
    )

    comparison = run_demo(base, options, console)

    text = output.getvalue()
    rows = {name: (expected, measured) for name, expected, measured in comparison.rows}
    assert comparison.ok, text
    assert rows["tasks"][0] > 100, text
    # The run is not vacuous: every step breached somewhere, and malformed lines were dead-lettered.
    assert all(
        rows[f"breaches: {step}"][0] > 0 for step in ("reception", "dispatch", "verification", "feedback")
    )
    assert rows["warnings merged into a task"][0] > 0
    assert rows["dead letters (alerts.dlq)"][0] > 0
    expected = json.loads((tmp_path / "demo" / "data" / "expected.json").read_text())
    assert rows["tasks"][1] == expected["tasks"]
    assert "MISMATCH" not in text
    assert "330106-PS01" in text  # the KPI report per station was printed
