"""Render the dashboards to JSON and write them to dashboards/grafana/."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from streams.dashboards import ops, pipeline, wall

# Each dashboard by uid; its file is dashboards/grafana/<uid>.json.
DASHBOARDS: dict[str, Callable[[], dash.Dashboard]] = {
    wall.UID: wall.build,
    ops.UID: ops.build,
    pipeline.UID: pipeline.build,
}
OUTPUT_DIR = Path(__file__).resolve().parents[2] / "dashboards" / "grafana"


def render(build: Callable[[], dash.Dashboard]) -> str:
    """The dashboard's JSON text, as committed: indented, keys in the SDK's order, UTF-8 as is."""
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    """Every dashboard's file name and JSON text."""
    return {f"{uid}.json": render(build) for uid, build in DASHBOARDS.items()}


def write(directory: Path = OUTPUT_DIR) -> list[Path]:
    """Write every dashboard's JSON into `directory`; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
