"""The worker's HTTP port serves riskalert's pages only: Faust's own pages, which would serve table
contents, routing and the topology, are not there (a real worker process on the real broker)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from streams.settings import Settings
from tests.integration.workers import WorkerProcess, running_worker

# Faust's pages (faust.web.base), each under a path it would answer if it were mounted, with the
# names of real tables of this app. Its index page stays: a liveness answer, {"status": "OK"}.
FAUST_PAGES = [
    "/router/",
    "/router/topics",
    "/table/",
    "/table/persons/",
    "/table/persons/p-1/",
    "/table/sla_tasks/",
    "/table/pager_tasks/",
    "/graph/",
    "/stats/",
    "/assignment/",
    "/metrics/",
    "/performance/",
]


def _get(worker: WorkerProcess, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}{path}", timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), b""


def test_only_riskalert_pages_are_served(isolated: Settings, tmp_path: Path) -> None:
    with running_worker(isolated, tmp_path) as worker:
        statuses = {path: _get(worker, path)[0] for path in FAUST_PAGES}
        metrics = _get(worker, "/metrics")
        index = _get(worker, "/")
        assert worker.stop() == 0
    assert statuses == dict.fromkeys(FAUST_PAGES, 404)
    assert metrics[0] == 200
    assert b"riskalert_alerts_total" in metrics[1]
    assert index[0] == 200
    assert json.loads(index[1]) == {"status": "OK"}
