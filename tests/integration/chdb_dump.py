"""Dump riskalert's ClickHouse tables as sorted text rows, in a child process.

chDB lets one process own a data path and hosts one engine per process, so a test reads a sink's
database after the sink stopped, through `python -m tests.integration.chdb_dump`, which prints JSON:
{table: [row, ...]} with each row as its repr, sorted. Tables with a replacing engine are read FINAL
(their current state); the others row for row, so a duplicate shows.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from streams.db.client import connect
from streams.settings import load_settings

# table -> read FINAL (replacing engines) or every row.
TABLES = {
    "alerts": False,
    "tasks": True,
    "task_events": False,
    "sla_events": True,
    "victim_cases": True,
    "alert_verdicts": True,
}


def dump(dsn: str) -> dict[str, list[str]]:
    """Every row of every table at `dsn`, as sorted reprs (run in a process that may own the path)."""
    client = connect(load_settings(clickhouse_dsn=dsn))
    try:
        out: dict[str, list[str]] = {}
        for table, final in TABLES.items():
            rows = client.query(f"SELECT * FROM {table}{' FINAL' if final else ''}").result_rows
            out[table] = sorted(repr(row) for row in rows)
        return out
    finally:
        client.close()


def dump_in_child(dsn: str) -> dict[str, list[str]]:
    """`dump`, run in a child process (the test process may hold another chDB path)."""
    result = subprocess.run(
        [sys.executable, "-m", "tests.integration.chdb_dump", dsn],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


if __name__ == "__main__":
    json.dump(dump(sys.argv[1]), sys.stdout)
