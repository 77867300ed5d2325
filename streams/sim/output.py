"""Write a simulation: the three JSON Lines files, then `expected.json` with the ground truth."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from streams.logic.sla_policy import load_policy
from streams.settings import Settings
from streams.sim.model import Simulation
from streams.sim.order import stream_lines
from streams.sim.truth import ground_truth

EXPECTED = "expected.json"


def write_simulation(simulation: Simulation, directory: Path, settings: Settings) -> dict[str, Any]:
    """Write the files and the ground truth into `directory` (created); returns expected.json's content.

    The ground truth uses the SLA policy and dedup windows of `settings`, i.e. what the workers load.
    """
    from streams.app import dedup_config, sla_config  # the workers' own windows (imports Faust)

    directory.mkdir(parents=True, exist_ok=True)
    for name, lines in simulation.files().items():
        with (directory / name).open("w", encoding="utf-8") as out:
            for line in lines:
                out.write(line.text() + "\n")
    policy_path = settings.sla_policy_path
    truth = ground_truth(
        stream_lines(directory),
        load_policy(policy_path),
        dedup_config(settings),
        sla_config(settings),
        now_ms=time.time_ns() // 1_000_000,
        period_end_ms=simulation.config.end_ms,
    )
    config = simulation.config
    expected = {
        "simulation": config.as_json(),
        "period": {
            "from": config.start.isoformat(),
            "to": (config.start + timedelta(days=config.days - 1)).isoformat(),
        },
        "sla_policy": str(policy_path),
        "records": {name: len(lines) for name, lines in simulation.files().items()},
        "malformed": sum(1 for lines in simulation.files().values() for line in lines if line.malformed),
        **truth.as_json(),
    }
    (directory / EXPECTED).write_text(
        json.dumps(expected, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return expected
