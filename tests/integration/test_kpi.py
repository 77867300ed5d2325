"""`riskalert kpi` and `GET /v1/kpi` over the fixed scenario (tests/integration/kpi_scenario.py), on
real chDB, against figures computed by hand.

A child process stores the scenario (chDB lets one process own a data path); `riskalert kpi` runs
in child processes of its own. The HTTP tests then open the path in this process, serve the KPI
sub-application from a real aiohttp server, and run the command while this process holds the path,
so the command has to ask the server.

Thresholds for every run: yellow card above 20 % overdue feedback or below 90 % step compliance, red
above 35 % or below 80 %.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from streams.db.client import connect
from streams.kpi.http import create_kpi_subapp
from streams.settings import Settings, load_settings
from tests.integration.cli import riskalert

THRESHOLDS = {
    "RISKALERT_KPI_YELLOW_OVERDUE_FEEDBACK_RATE": "0.2",
    "RISKALERT_KPI_RED_OVERDUE_FEEDBACK_RATE": "0.35",
    "RISKALERT_KPI_YELLOW_STEP_COMPLIANCE": "0.9",
    "RISKALERT_KPI_RED_STEP_COMPLIANCE": "0.8",
}
DAY = ("--from", "2025-03-01", "--to", "2025-03-01")
PERIOD = {"from": "2025-03-01", "to": "2025-03-01"}


def _times(*pairs: tuple[int, int]) -> dict[str, dict[str, int]]:
    steps = ("reception", "dispatch", "verification", "feedback")
    return {step: {"p50": p50, "p90": p90} for step, (p50, p90) in zip(steps, pairs, strict=True)}


# Seconds from creation to each step, per station (events of kpi_scenario.py):
#   S1 reception    T1 30, T3 60, T4 120, T2 180        dispatch  T1 240, T3 300, T4 360, T2 480
#      verification T1 600, T2 1200, T4 1200, T3 2400  feedback  T1 3600, T4 3600, T2 7200 (T3 none;
#      T1's first feedback, the UNREACHABLE one, is the step's time)
#   S2 reception    T7 240, T5 600, T6 1800             dispatch  T7 540, T5 1200, T6 3600
#      verification T7 1500, T5 3600, T6 14400         feedback  T7 7200, T6 21600, T5 90000 (next day)
#   S3 (T10)        60, 300, 1200, 3600
# p50/p90 is the value at position floor(q * n) of the n sorted times (0-based), an observed time:
#   n = 4: p50 = 3rd, p90 = 4th; n = 3: p50 = 2nd, p90 = 3rd; n = 8 (all, first three steps): 5th and
#   8th; n = 7 (all, feedback): 4th and 7th.
EXPECTED = [
    {
        "period": PERIOD,
        "station": "S3",
        "level": None,
        "rank": 1,  # nothing overdue, every step on time
        "card": None,
        "tasks": 1,
        "step_compliance": {"reception": 1.0, "dispatch": 1.0, "verification": 1.0},
        "overdue_feedback_rate": 0.0,
        "face_to_face_rate": 1.0,  # T10 met face to face
        "dissuasion_rate": 1.0,
        "post_warning_victimisation_rate": 0.0,
        "amount_protected_yuan": 10.0,  # 1000 fen
        "post_warning_victimisation": {"after_dissuasion": 0.0, "never_dissuaded": 0.0},
        "step_compliance_pooled": 1.0,
        "time_to_step_seconds": _times((60, 60), (300, 300), (1200, 1200), (3600, 3600)),
        "warnings": 1,
        "counts": {
            "reception_due": 1, "reception_met": 1, "dispatch_due": 1, "dispatch_met": 1,
            "verification_due": 1, "verification_met": 1, "feedback_due": 1, "feedback_met": 1,
            "feedback_overdue": 0, "tasks_with_feedback": 1, "face_to_face": 1, "risk_confirmed": 1,
            "dissuaded": 1, "amount_protected_fen": 1000, "warned_persons": 1, "victimised_persons": 0,
            "victimised_after_dissuasion": 0, "victimised_never_dissuaded": 0,
        },
    },
    {
        "period": PERIOD,
        "station": "S2",
        "level": None,
        "rank": 2,  # overdue 1/3
        "card": "yellow",  # 1/3 overdue > 0.2, not > 0.35; steps 9/9
        "tasks": 3,  # T5, T6, T7
        "step_compliance": {"reception": 1.0, "dispatch": 1.0, "verification": 1.0},
        # Feedback units T5 (fed back late, next day: BREACHED, MET_LATE), T6, T7 on time: 1 of 3 late.
        "overdue_feedback_rate": 1 / 3,
        "face_to_face_rate": 1 / 3,  # of T5, T6, T7 (all fed back) only T5 met face to face
        # Latest outcomes DISSUADED (T5), REFUSED (T6), UNREACHABLE (T7): all confirm a risk, 1 dissuaded.
        "dissuasion_rate": 1 / 3,
        "post_warning_victimisation_rate": 0.0,  # P5, P6 warned (T5 has no person key), no victim
        "amount_protected_yuan": 20.0,  # T5's 2000 fen
        "post_warning_victimisation": {"after_dissuasion": 0.0, "never_dissuaded": 0.0},
        "step_compliance_pooled": 1.0,
        "time_to_step_seconds": _times((600, 1800), (1200, 3600), (3600, 14400), (21600, 90000)),
        "warnings": 3,
        "counts": {
            "reception_due": 3, "reception_met": 3, "dispatch_due": 3, "dispatch_met": 3,
            "verification_due": 3, "verification_met": 3, "feedback_due": 3, "feedback_met": 2,
            "feedback_overdue": 1, "tasks_with_feedback": 3, "face_to_face": 1, "risk_confirmed": 3,
            "dissuaded": 1, "amount_protected_fen": 2000, "warned_persons": 2, "victimised_persons": 0,
            "victimised_after_dissuasion": 0, "victimised_never_dissuaded": 0,
        },
    },
    {
        "period": PERIOD,
        "station": "S1",
        "level": None,
        "rank": 3,  # overdue 2/5
        "card": "red",  # 2/5 overdue > 0.35
        "tasks": 4,  # T1 (two warnings merged: one task), T2, T3, T4; T8 was created the day before
        # Reception: T2's breach page went out, but its reception happened in time: 4 of 4.
        "step_compliance": {"reception": 1.0, "dispatch": 0.75, "verification": 0.75},  # T1, T3 late
        # Feedback units: T1 cycle 1 (on time), T1 cycle 2 after the re-feedback request (late), T2, T4
        # on time, T3 none yet and past due: 2 of 5 overdue.
        "overdue_feedback_rate": 0.4,
        "face_to_face_rate": 2 / 3,  # fed back: T1 (face to face), T2 (phone), T4 (face to face)
        # Latest outcomes: T1 DISSUADED (after UNREACHABLE), T2 ALREADY_DEFRAUDED, T4 NO_RISK (no risk:
        # left out); T3 has none. 1 dissuaded of 2 confirmed.
        "dissuasion_rate": 0.5,
        # Warned persons P1 (T1, T4), P2, P3: 3. Victims P1 (after T1's dissuasion), P2 (never).
        "post_warning_victimisation_rate": 2 / 3,
        "amount_protected_yuan": 50.0,  # T1's latest feedback: 5000 fen (the UNREACHABLE one said 0)
        "post_warning_victimisation": {"after_dissuasion": 1 / 3, "never_dissuaded": 1 / 3},
        "step_compliance_pooled": 10 / 12,
        "time_to_step_seconds": _times((120, 180), (360, 480), (1200, 2400), (3600, 7200)),
        "warnings": 5,  # T1 2, T2, T3, T4 1 each
        "counts": {
            "reception_due": 4, "reception_met": 4, "dispatch_due": 4, "dispatch_met": 3,
            "verification_due": 4, "verification_met": 3, "feedback_due": 5, "feedback_met": 3,
            "feedback_overdue": 2, "tasks_with_feedback": 3, "face_to_face": 2, "risk_confirmed": 2,
            "dissuaded": 1, "amount_protected_fen": 5000, "warned_persons": 3, "victimised_persons": 2,
            "victimised_after_dissuasion": 1, "victimised_never_dissuaded": 1,
        },
    },
    {
        "period": PERIOD,
        "station": None,  # all stations: the same expressions over every cell, not an average
        "level": None,
        "rank": None,
        "card": None,
        "tasks": 8,
        "step_compliance": {"reception": 1.0, "dispatch": 7 / 8, "verification": 7 / 8},
        "overdue_feedback_rate": 3 / 9,  # 2 (S1) + 1 (S2) late of 5 + 3 + 1 units
        "face_to_face_rate": 4 / 7,  # 2 + 1 + 1 of 3 + 3 + 1 fed back
        "dissuasion_rate": 0.5,  # 1 + 1 + 1 of 2 + 3 + 1
        "post_warning_victimisation_rate": 2 / 6,  # P1, P2 of P1, P2, P3, P5, P6, P7
        "amount_protected_yuan": 80.0,
        "post_warning_victimisation": {"after_dissuasion": 1 / 6, "never_dissuaded": 1 / 6},
        "step_compliance_pooled": 22 / 24,
        # reception [30, 60, 60, 120, 180, 240, 600, 1800], dispatch [240, 300, 300, 360, 480, 540, 1200,
        # 3600], verification [600, 1200, 1200, 1200, 1500, 2400, 3600, 14400], feedback [3600, 3600,
        # 3600, 7200, 7200, 21600, 90000]
        "time_to_step_seconds": _times((180, 1800), (480, 3600), (1500, 14400), (7200, 90000)),
        "warnings": 9,
        "counts": {
            "reception_due": 8, "reception_met": 8, "dispatch_due": 8, "dispatch_met": 7,
            "verification_due": 8, "verification_met": 7, "feedback_due": 9, "feedback_met": 6,
            "feedback_overdue": 3, "tasks_with_feedback": 7, "face_to_face": 4, "risk_confirmed": 6,
            "dissuaded": 3, "amount_protected_fen": 8000, "warned_persons": 6, "victimised_persons": 2,
            "victimised_after_dissuasion": 1, "victimised_never_dissuaded": 1,
        },
    },
]  # fmt: skip


@pytest.fixture(scope="module")
def scenario_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a `riskalert` whose chDB path holds the scenario (stored by a child process)."""
    path = tmp_path_factory.mktemp("kpi") / "chdb"
    env = {"RISKALERT_CLICKHOUSE_DSN": f"chdb://{path}", **THRESHOLDS}
    code = "from tests.integration.kpi_scenario import load; load()"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return env


def kpi_json(settings: Settings, env: dict[str, str], *args: str) -> list[dict[str, Any]]:
    """`riskalert kpi --json ARGS` in a child process; its output parsed."""
    result = riskalert(settings, "kpi", "--json", *args, env=env)
    assert result.returncode == 0, result.stderr
    parsed: list[dict[str, Any]] = json.loads(result.stdout)
    return parsed


def _rows(report: list[dict[str, Any]], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(item[key] for key in keys) for item in report]


def test_the_report_is_the_hand_computed_one(settings: Settings, scenario_env: dict[str, str]) -> None:
    assert kpi_json(settings, scenario_env, *DAY) == EXPECTED


def test_station_filter(settings: Settings, scenario_env: dict[str, str]) -> None:
    [s1] = kpi_json(settings, scenario_env, *DAY, "--station", "S1")  # no all-stations row
    assert s1 == {**EXPECTED[2], "rank": 1}  # ranked among the stations of the report: itself
    assert kpi_json(settings, scenario_env, *DAY, "--station", "S9") == []


def test_level_filter(settings: Settings, scenario_env: dict[str, str]) -> None:
    report = kpi_json(settings, scenario_env, *DAY, "--level", "high")
    # HIGH now: T2, T3, T4 (T1 became CRITICAL when a second warning merged), T7, T10.
    assert _rows(report, "station", "rank", "card", "tasks") == [
        ("S2", 1, None, 1),  # T7 and T10 both on time: a shared rank
        ("S3", 1, None, 1),
        ("S1", 3, "yellow", 3),  # overdue 1/3 (T3's feedback), pooled steps 8/9 < 0.9
        (None, None, None, 5),
    ]
    s1 = report[2]
    assert s1["step_compliance"] == {"reception": 1.0, "dispatch": 1.0, "verification": 2 / 3}
    assert s1["overdue_feedback_rate"] == 1 / 3
    assert s1["face_to_face_rate"] == 0.5  # T2 phone, T4 face to face
    assert s1["dissuasion_rate"] == 0.0  # T2 ALREADY_DEFRAUDED; T4 NO_RISK is not a confirmed risk
    # P1 (T4), P2, P3 warned; P2 a victim; P1's victimisation was after T1, a CRITICAL task.
    assert s1["post_warning_victimisation_rate"] == 1 / 3
    assert s1["post_warning_victimisation"] == {"after_dissuasion": 0.0, "never_dissuaded": 1 / 3}
    [t6] = kpi_json(settings, scenario_env, *DAY, "--station", "S2", "--level", "LOW")
    assert (t6["tasks"], t6["dissuasion_rate"], t6["level"]) == (1, 0.0, "LOW")  # REFUSED


def test_period_bounds(settings: Settings, scenario_env: dict[str, str]) -> None:
    before = kpi_json(settings, scenario_env, "--from", "2025-02-28", "--to", "2025-02-28")
    # T8, created 23:50 the day before; its feedback was due on 03-01 and is counted with it, here.
    assert _rows(before, "station", "tasks", "dissuasion_rate", "amount_protected_yuan") == [
        ("S1", 1, 1.0, 30.0),
        (None, 1, 1.0, 30.0),
    ]
    after = kpi_json(settings, scenario_env, "--from", "2025-03-02", "--to", "2025-03-02")
    [t9, _] = after  # T9: received in time, dispatch breached, nothing else due or reported yet
    assert t9["step_compliance"] == {"reception": 1.0, "dispatch": 0.0, "verification": None}
    assert (t9["overdue_feedback_rate"], t9["face_to_face_rate"], t9["dissuasion_rate"]) == (None, None, None)
    assert t9["post_warning_victimisation_rate"] == 0.0
    three_days = kpi_json(settings, scenario_env, "--from", "2025-02-28", "--to", "2025-03-02")
    assert three_days[-1]["tasks"] == 10
    assert three_days[-1]["period"] == {"from": "2025-02-28", "to": "2025-03-02"}


def test_the_table(settings: Settings, scenario_env: dict[str, str]) -> None:
    result = riskalert(settings, "kpi", *DAY, env=scenario_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    s1 = next(line for line in lines if "S1" in line)
    assert "red" in s1
    assert "40.0%" in s1  # overdue feedback
    assert "75.0%" in s1  # dispatch
    assert any("all stations" in line and "80.00" in line for line in lines)  # amount protected


def test_bad_arguments_are_clear_errors(settings: Settings, scenario_env: dict[str, str]) -> None:
    result = riskalert(settings, "kpi", "--from", "2025-03-02", "--to", "2025-03-01", env=scenario_env)
    assert result.returncode == 2
    assert "ends (2025-03-01) before it starts (2025-03-02)" in result.stderr
    result = riskalert(settings, "kpi", "--level", "urgent", env=scenario_env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


BACKFILL = """
from datetime import date
from streams.db.client import connect
from streams.kpi.cells import backfill_kpi_tables, refresh_cells
from streams.kpi.queries import CardThresholds
from streams.kpi.report import report_json, station_report
from streams.kpi.request import KpiRequest, Period
from streams.settings import load_settings
from tests.integration.kpi_scenario import load

settings = load_settings()
load(settings)
client = connect(settings)
for table in ("kpi_task_attrs_by_day", "kpi_task_facts_by_day"):  # as before migration 005's views
    client.command(f"TRUNCATE TABLE {table}")
refresh_cells(client)
request = KpiRequest(Period(date(2025, 3, 1), date(2025, 3, 1)))
print(report_json(station_report(client, request, CardThresholds.from_settings(settings))))
backfill_kpi_tables(client)
backfill_kpi_tables(client)  # twice: changes nothing
print(report_json(station_report(client, request, CardThresholds.from_settings(settings))))
client.close()
"""


def test_backfill_rebuilds_the_kpi_tables_from_the_base_tables(tmp_path: Path) -> None:
    env = {**os.environ, "RISKALERT_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'chdb'}", **THRESHOLDS}
    result = subprocess.run(
        [sys.executable, "-c", BACKFILL], capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert result.returncode == 0, result.stderr
    empty, rebuilt = result.stdout.split("\n]\n", 1)
    assert [item["tasks"] for item in json.loads(empty + "\n]")] == [0]  # only the all-stations row
    assert json.loads(rebuilt) == EXPECTED


# --- over HTTP, while this process owns the chDB path ---------------------------------------------


@contextmanager
def serve(app: web.Application) -> Iterator[int]:
    """Serve `app` on a free loopback port from a thread of its own; yields the port."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app)
    started = threading.Event()
    port: list[int] = []

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port.append(runner.addresses[0][1])
        started.set()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        yield port[0]
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def worker_app(settings: Settings) -> web.Application:
    """A worker-like web application with the KPI sub-application mounted as the sink worker mounts it."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text="# metrics\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.add_subapp("/v1", create_kpi_subapp(settings, lambda: connect(settings)))
    return app


@pytest.fixture(scope="module")
def owned(scenario_env: dict[str, str]) -> Iterator[tuple[Settings, int]]:
    """This process owns the scenario's chDB path and serves the KPI API; yields settings and port."""
    overrides = {key.removeprefix("RISKALERT_").lower(): value for key, value in scenario_env.items()}
    settings = load_settings(**overrides)
    holder = connect(settings)  # holds the engine (and so the path) while the module's tests run
    try:
        with serve(worker_app(settings)) as port:
            yield settings, port
    finally:
        holder.close()


def get(port: int, query: str) -> tuple[int, str]:
    """Status and body of GET /v1/kpi?query."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/kpi?{query}", timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_the_api_returns_what_the_command_prints(
    settings: Settings, scenario_env: dict[str, str], owned: tuple[Settings, int]
) -> None:
    _, port = owned
    status, body = get(port, "from=2025-03-01&to=2025-03-01")
    assert status == 200
    assert json.loads(body) == EXPECTED
    status, body = get(port, "from=2025-03-01&to=2025-03-01&station=S2&level=LOW")
    assert (status, [item["tasks"] for item in json.loads(body)]) == (200, [1])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        assert response.read() == b"# metrics\n"  # the worker's own routes are untouched


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("level=urgent", "level must be one of CRITICAL, HIGH, MEDIUM, LOW, got 'urgent'"),
        ("from=2025-13-01", "from must be a date as YYYY-MM-DD, got '2025-13-01'"),
        ("since=2025-03-01", "unknown parameter(s) since; use from, to, station, level"),
    ],
)
def test_bad_parameters_are_400s_with_a_message(owned: tuple[Settings, int], query: str, error: str) -> None:
    status, body = get(owned[1], query)
    assert (status, json.loads(body)) == (400, {"error": error})


def test_a_failing_store_is_a_503_with_a_message(owned: tuple[Settings, int]) -> None:
    settings, _ = owned

    def no_such_database() -> Any:
        client = connect(settings)
        client.database = "no_such_database"  # every query fails: the tables are not there
        return client

    app = web.Application()
    app.add_subapp("/v1", create_kpi_subapp(settings, no_such_database))
    with serve(app) as port:
        status, body = get(port, "from=2025-03-01")
    assert status == 503
    assert json.loads(body)["error"].startswith("KPI query STATION_RANKING failed:")


def test_the_command_asks_the_process_holding_the_path(
    settings: Settings, scenario_env: dict[str, str], owned: tuple[Settings, int]
) -> None:
    _, port = owned
    env = {**scenario_env, "RISKALERT_SINK_METRICS_PORT": str(port)}
    held = riskalert(settings, "kpi", "--json", *DAY, env=env)
    assert held.returncode == 0, held.stderr
    assert json.loads(held.stdout) == EXPECTED
    _, body = get(port, "from=2025-03-01&to=2025-03-01")
    assert held.stdout.strip() == body.strip()  # the same text, byte for byte


def test_no_answer_from_the_holder_is_a_clear_error(
    settings: Settings, scenario_env: dict[str, str], owned: tuple[Settings, int]
) -> None:
    with serve(web.Application()) as free_port:
        pass  # a port nothing listens on any more
    env = {**scenario_env, "RISKALERT_SINK_METRICS_PORT": str(free_port)}
    result = riskalert(settings, "kpi", *DAY, env=env)
    assert result.returncode == 1
    assert (
        f"process {os.getpid()} holds the chDB path {Path(scenario_env['RISKALERT_CLICKHOUSE_DSN'][7:])}"
        in (" ".join(result.stderr.split()))
    )
    assert f"no KPI API answered at http://127.0.0.1:{free_port}/v1/kpi" in " ".join(result.stderr.split())
    assert "chDB lets one process own a data path" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
