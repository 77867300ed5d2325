"""Running the installed `riskalert` command against a prefixed set of topics."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from streams.settings import Settings

RISKALERT = str(Path(sys.executable).parent / "riskalert")


def riskalert(
    settings: Settings, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `riskalert ARGS` with the settings' topic prefix (plus `env`); never raises on exit status."""
    full_env = {
        **os.environ,
        "RISKALERT_TOPIC_PREFIX": settings.topic_prefix,
        "COLUMNS": "200",
        **(env or {}),
    }
    return subprocess.run(
        [RISKALERT, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=full_env,
    )


def riskalert_ok(settings: Settings, *args: str, env: dict[str, str] | None = None) -> str:
    """Run `riskalert ARGS` and require exit status 0; returns what it printed."""
    result = riskalert(settings, *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
