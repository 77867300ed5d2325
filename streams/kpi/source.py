"""Where `riskalert kpi` gets its report: the store itself, or the worker that owns the chDB path.

chDB lets one process own a data path. When another process holds it (the sink worker, in the local
stack), the command asks that worker's `GET /v1/kpi` (`streams.kpi.http`) on 127.0.0.1 at
`RISKALERT_SINK_METRICS_PORT` instead, and prints the same report. A chDB store opened here is idle,
so its KPI cells are refreshed first (`streams.kpi.cells`). The holder is found up front in
/proc/locks (chDB flocks `<path>/status`), without touching the lock: taking it even for a moment
could make a starting worker fail. A path taken between that look and the open is caught from the
open's error. A ClickHouse server (`http(s)://`) is always queried directly.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from streams.db.client import connect
from streams.db.errors import ClickHouseError
from streams.errors import RiskAlertError
from streams.kpi.cells import refresh_cells
from streams.kpi.http import PATH
from streams.kpi.queries import CardThresholds
from streams.kpi.report import station_report
from streams.kpi.request import KpiRequest
from streams.settings import Settings

# The worker's web server binds loopback only (streams/app.py): the API is for this host.
WORKER_HOST = "127.0.0.1"
WORKER_TIMEOUT_SECONDS = 60.0
PROC_LOCKS = Path("/proc/locks")
# What `streams.db.client.connect` says when chDB refuses a path another process holds.
HELD_PATH_HINT = "one process own a data path"


class KpiUnavailableError(RiskAlertError):
    """The chDB path is held by another process, and that process's KPI API did not answer."""


def load_report(settings: Settings, request: KpiRequest) -> list[dict[str, Any]]:
    """The report, from the store or from the worker owning the chDB path.

    Raises:
        ClickHouseError: the store cannot be opened or queried (and no other process holds it).
        KpiUnavailableError: another process holds the chDB path and its KPI API did not answer.
    """
    target = settings.clickhouse
    if target.embedded and target.path is not None:
        holder = chdb_path_holder(target.path)
        if holder is not None and holder != os.getpid():
            return ask_worker(settings, request, f"process {holder} holds the chDB path {target.path}")
    try:
        client = connect(settings)
    except ClickHouseError as exc:
        if target.embedded and HELD_PATH_HINT in str(exc):
            return ask_worker(settings, request, f"another process holds the chDB path {target.path}")
        raise
    try:
        if target.embedded:  # nobody else refreshes an idle chDB store's cells
            refresh_cells(client)
        return station_report(client, request, CardThresholds.from_settings(settings))
    finally:
        client.close()


def chdb_path_holder(path: Path, locks: Path = PROC_LOCKS) -> int | None:
    """The pid of the process whose chDB engine holds `path`, or None (free, or no /proc/locks)."""
    try:
        status = (path / "status").stat()
        table = locks.read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return lock_holder(table, os.major(status.st_dev), os.minor(status.st_dev), status.st_ino)


def lock_holder(proc_locks: str, major: int, minor: int, inode: int) -> int | None:
    """The pid holding a lock on the file (device `major:minor`, `inode`) in /proc/locks text.

    Lines read `1: FLOCK  ADVISORY  WRITE 9342 fe:00:10190865 0 EOF`; waiting requests (`->`) are
    skipped.
    """
    wanted = f"{major:02x}:{minor:02x}:{inode}"
    for line in proc_locks.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[1] != "->" and fields[5] == wanted and fields[4].isdigit():
            return int(fields[4])
    return None


def worker_url(settings: Settings, request: KpiRequest) -> str:
    """The worker's KPI API URL for `request` (the period always explicit, so both sides agree)."""
    query = {
        "from": request.period.first_day.isoformat(),
        "to": request.period.last_day.isoformat(),
        **({"station": request.station} if request.station else {}),
        **({"level": request.level} if request.level else {}),
    }
    return f"http://{WORKER_HOST}:{settings.sink_metrics_port}{PATH}?{urllib.parse.urlencode(query)}"


def ask_worker(settings: Settings, request: KpiRequest, why: str) -> list[dict[str, Any]]:
    """The report from the worker's KPI API.

    Raises:
        KpiUnavailableError: saying `why` the store was not opened, the URL, and what went wrong.
    """
    url = worker_url(settings, request)
    try:
        with urllib.request.urlopen(url, timeout=WORKER_TIMEOUT_SECONDS) as response:  # noqa: S310  # http on loopback, built above
            report: list[dict[str, Any]] = json.loads(response.read())
            return report
    except urllib.error.HTTPError as exc:
        raise KpiUnavailableError(
            f"{why}; its KPI API at {url} answered {exc.code}: {error_of(exc)}"
        ) from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise KpiUnavailableError(
            f"{why}, and no KPI API answered at {url} ({reason_of(exc)}). chDB lets one process own a data "
            "path: run the sink worker (`riskalert worker --stages sink`), which serves the KPIs, or stop "
            f"the process holding the path (RISKALERT_SINK_METRICS_PORT is {settings.sink_metrics_port})"
        ) from exc


def error_of(exc: urllib.error.HTTPError) -> str:
    """The `error` message of a KPI API error response, or its raw body."""
    body = exc.read().decode("utf-8", errors="replace")
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body.strip() or str(exc.reason)


def reason_of(exc: BaseException) -> str:
    """Why a request failed, in a few words."""
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc)
