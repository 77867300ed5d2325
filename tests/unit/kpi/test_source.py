"""Finding the process that holds a chDB path, and the worker URL the command asks instead."""

from __future__ import annotations

import fcntl
import os
from datetime import date
from pathlib import Path

from streams.kpi.request import KpiRequest, Period
from streams.kpi.source import chdb_path_holder, lock_holder, worker_url
from streams.settings import load_settings

PROC_LOCKS = """\
1: POSIX  ADVISORY  WRITE 5478 fe:00:5366055 0 EOF
2: FLOCK  ADVISORY  WRITE 9342 fe:00:10190865 0 EOF
2: -> FLOCK  ADVISORY  WRITE 9400 fe:00:10190865 0 EOF
3: FLOCK  ADVISORY  WRITE 8655 08:01:10190865 0 EOF
"""


def test_lock_holder_matches_device_and_inode_and_skips_waiters() -> None:
    assert lock_holder(PROC_LOCKS, 0xFE, 0, 10190865) == 9342
    assert lock_holder(PROC_LOCKS, 8, 1, 10190865) == 8655
    assert lock_holder(PROC_LOCKS, 0xFE, 0, 1) is None


def test_a_real_flock_on_the_status_file_is_found_and_a_free_path_is_not(tmp_path: Path) -> None:
    assert chdb_path_holder(tmp_path) is None  # no status file: no engine ever ran here
    status = tmp_path / "status"
    status.write_text("")
    assert chdb_path_holder(tmp_path) is None  # left behind, unlocked
    with status.open() as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what chDB does while it owns the path
        assert chdb_path_holder(tmp_path) == os.getpid()


def test_the_worker_url_carries_the_whole_request() -> None:
    settings = load_settings(sink_metrics_port=6123)
    request = KpiRequest(Period(date(2025, 3, 1), date(2025, 3, 7)), "370202-PS01", "HIGH")
    assert worker_url(settings, request) == (
        "http://127.0.0.1:6123/v1/kpi?from=2025-03-01&to=2025-03-07&station=370202-PS01&level=HIGH"
    )
    everyone = KpiRequest(request.period)
    assert worker_url(settings, everyone).endswith("/v1/kpi?from=2025-03-01&to=2025-03-07")
