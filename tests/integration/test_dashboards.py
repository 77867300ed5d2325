"""Every panel query of the dashboards, expanded as Grafana and the ClickHouse plugin expand it
(tests/grafana_macros.py), run on chDB seeded with the KPI scenario (tests/integration/kpi_scenario.py):
the expected columns, and the rates on the wall equal to `riskalert kpi` for the same period and
filters. Also: dashboard-linter passes, every PromQL expression passes promtool, and the Grafana user's
grants parse.

`riskalert kpi` runs in child processes first (chDB lets one process own a path); this process then
opens the path and runs the panels' SQL. Card thresholds are the defaults, as the dashboards bake them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from clickhouse_connect.driver.client import Client

from streams.dashboards import sql
from streams.db.client import connect
from streams.settings import PROJECT_ROOT, Settings, load_settings
from tests.grafana_macros import ALL, CHINA, QueryRange, Variable, china_ms, expand, panel_range
from tests.integration.cli import riskalert
from tests.unit.dashboards.test_dashboards import (
    GRAFANA_DIR,
    IDENTIFIER_COLUMNS,
    dashboards,
    promql_expressions,
)
from tests.unit.dashboards.test_provisioning import grant_statements

# "Now" for the dashboards: late on the scenario's day. The wall and ops boards' default range
# (now-6d/d to now/d) is then 2025-02-23 to 2025-03-01, China days.
NOW = china_ms("2025-03-01 23:00")
WEEK = ("--from", "2025-02-23", "--to", "2025-03-01")
STATIONS = ["S1", "S2", "S3"]
ALL_SELECTED = {
    "station": Variable([ALL], STATIONS),
    "region": Variable([ALL], ["370202"]),
    "level": Variable([ALL], ["CRITICAL", "HIGH", "MEDIUM", "LOW"]),
    "fraud_type": Variable([ALL], ["FAKE_INVESTMENT"]),
    "source": Variable([ALL], ["BANK", "JZZ"]),
    "task_id": Variable(["T1"], multi=False),
}
# Some values of every variable (several stations, levels, a quote in a value that matches nothing).
SOME_SELECTED = {
    **ALL_SELECTED,
    "station": Variable(["S1", "S2"], STATIONS),
    "region": Variable(["370202", "O'Hare"]),
    "level": Variable(["HIGH", "CRITICAL"]),
    "fraud_type": Variable(["FAKE_INVESTMENT", "ROMANCE"]),
    "source": Variable(["JZZ"]),
    "task_id": Variable(["T'1"], multi=False),
}
# The columns each panel returns, by dashboard and panel title.
COLUMNS = {
    "Warnings today": ["warnings"],
    "Open tasks": ["open_tasks"],
    "Overdue feedback rate 超期反馈率": ["overdue_feedback_rate"],
    "Dissuasion success rate 劝阻成功率": ["dissuasion_rate"],
    "Face-to-face rate 见面率": ["face_to_face_rate"],
    "Amount protected 挽损": ["amount_protected_yuan"],
    "Breaches in the last hour, by step": ["reception", "dispatch", "verification", "feedback"],
    "Open tasks by SLA step, by time left": ["stage", *sql.BANDS],
    "Station ranking 红黄牌": [
        "rank", "station", "card", "tasks", "overdue_feedback_rate", "step_compliance",
        "reception_compliance", "dispatch_compliance", "verification_compliance",
    ],
    "Warnings and late steps, last 7 days": ["time", "warnings", "late_steps"],
    "Task": [
        "task_id", "station_code", "region_code", "level", "base_level", "fraud_type", "sources", "status",
        "created_at", "closed_at", "masked_name", "age_band", "prior_victim", "prior_warnings_90d",
    ],
    "Task timeline": ["time", "event", "step", "feedback_round", "detail"],
    "Step compliance 及时率": [
        "reception_compliance", "dispatch_compliance", "verification_compliance", "feedback_on_time",
    ],
    "Time to each step, p50 and p90": ["step", "p50_seconds", "p90_seconds"],
    "Overdue tasks": [
        "task_id", "station", "level", "step", "feedback_round", "overdue_by_seconds", "masked_name",
    ],
    "Tasks by fraud type and source": ["fraud_type", "source", "tasks"],
    "Warnings by hour of day": ["hour", "warnings"],
    "Victimised after warning 预后被骗率": [
        "victimisation_rate", "victimisation_after_dissuasion_rate", "victimisation_never_dissuaded_rate",
        "warned_persons",
    ],
}  # fmt: skip


@pytest.fixture(scope="module")
def scenario_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a `riskalert` whose chDB path holds the scenario (stored by a child process)."""
    path = tmp_path_factory.mktemp("dashboards") / "chdb"
    env = {"RISKALERT_CLICKHOUSE_DSN": f"chdb://{path}"}
    code = "from tests.integration.kpi_scenario import load; load()"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture(scope="module")
def reports(settings: Settings, scenario_env: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """`riskalert kpi --json` for the periods and filters the tests compare with, by name."""
    runs = {
        "week": WEEK,
        "today": ("--from", "2025-03-01", "--to", "2025-03-01"),
        "week S1": (*WEEK, "--station", "S1"),
        "week HIGH": (*WEEK, "--level", "HIGH"),
    }
    made = {}
    for name, args in runs.items():
        result = riskalert(settings, "kpi", "--json", *args, env=scenario_env)
        assert result.returncode == 0, result.stderr
        made[name] = json.loads(result.stdout)
    return made


@pytest.fixture(scope="module")
def client(scenario_env: dict[str, str], reports: dict[str, Any]) -> Iterator[Client]:
    """A client of this process on the scenario (opened after the commands ran)."""
    overrides = {key.removeprefix("RISKALERT_").lower(): value for key, value in scenario_env.items()}
    opened = connect(load_settings(**overrides))
    try:
        yield opened
    finally:
        opened.close()


def panel(uid: str, title: str) -> dict[str, Any]:
    (found,) = (item for item in dashboards()[uid]["panels"] if item["title"] == title)
    return found


def run(
    client: Client, uid: str, title: str, variables: dict[str, Variable] = ALL_SELECTED,
    query_range: QueryRange | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The panel's rows, as dicts, for the variables and its range at NOW (or `query_range`)."""
    board, found = dashboards()[uid], panel(uid, title)
    (target,) = found["targets"]
    expanded = expand(target["rawSql"], variables, query_range or panel_range(board["time"], found, NOW))
    result = client.query(expanded)
    return [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]


def columns(client: Client, expanded: str) -> list[str]:
    """The columns a query returns (chDB's client names none for an empty result: ask DESCRIBE)."""
    result = client.query(expanded)
    if result.result_rows:
        return list(result.column_names)
    return [row[0] for row in client.query(f"DESCRIBE ({expanded})").result_rows]


def total(report: list[dict[str, Any]]) -> dict[str, Any]:
    (row,) = (item for item in report if item["station"] is None)
    return row


# --- every query runs ------------------------------------------------------------------------------


@pytest.mark.parametrize("variables", [ALL_SELECTED, SOME_SELECTED], ids=["all", "some"])
def test_every_clickhouse_query_runs_and_returns_its_columns(
    client: Client, variables: dict[str, Variable]
) -> None:
    ran = 0
    for uid, board in dashboards().items():
        for item in board["panels"]:
            for target in item["targets"]:
                if target["datasource"]["type"] != "grafana-clickhouse-datasource":
                    continue
                expanded = expand(target["rawSql"], variables, panel_range(board["time"], item, NOW))
                returned = columns(client, expanded)
                assert returned == COLUMNS[item["title"]], (uid, item["title"])
                assert not set(returned) & set(IDENTIFIER_COLUMNS), (uid, item["title"])
                ran += 1
    assert ran == len(COLUMNS)


def test_every_variable_query_runs(client: Client) -> None:
    values = {}
    for board in dashboards().values():
        for variable in board["templating"]["list"]:
            if (
                variable["type"] == "query"
                and variable["datasource"]["type"] == "grafana-clickhouse-datasource"
            ):
                result = client.query(expand(variable["query"], ALL_SELECTED, QueryRange(0, NOW)))
                values[variable["name"]] = [row[0] for row in result.result_rows]
    # The scenario is older than 90 days: the lists are empty but valid; the cells list the wall's stations
    # only for the last 40 days (kpi_cells_recent), so a fresh table yields none either.
    assert set(values) == {"station", "region", "fraud_type", "source"}


# --- the wall equals `riskalert kpi` -----------------------------------------------------------------

TILES = {
    "Overdue feedback rate 超期反馈率": ("overdue_feedback_rate", "overdue_feedback_rate"),
    "Dissuasion success rate 劝阻成功率": ("dissuasion_rate", "dissuasion_rate"),
    "Face-to-face rate 见面率": ("face_to_face_rate", "face_to_face_rate"),
    "Amount protected 挽损": ("amount_protected_yuan", "amount_protected_yuan"),
}


def test_wall_tiles_equal_riskalert_kpi(client: Client, reports: dict[str, Any]) -> None:
    week = total(reports["week"])
    for title, (column, key) in TILES.items():
        assert run(client, "riskalert-wall", title) == [{column: week[key]}], title
    assert week["overdue_feedback_rate"] == 3 / 10  # the figures are the scenario's, not empty
    # "Warnings today" is today's China day (the panel's own range), as `riskalert kpi` for that day.
    assert run(client, "riskalert-wall", "Warnings today") == [
        {"warnings": total(reports["today"])["warnings"]}
    ]
    assert total(reports["today"])["warnings"] == 9


def test_wall_tiles_for_one_station_equal_its_report(client: Client, reports: dict[str, Any]) -> None:
    (s1,) = reports["week S1"]
    one = {**ALL_SELECTED, "station": Variable(["S1"], STATIONS)}
    for title, (column, key) in TILES.items():
        assert run(client, "riskalert-wall", title, one) == [{column: s1[key]}], title


def test_wall_tiles_for_two_stations_pool_their_counts(client: Client, reports: dict[str, Any]) -> None:
    rows = {item["station"]: item["counts"] for item in reports["week"] if item["station"]}
    two = {**ALL_SELECTED, "station": Variable(["S1", "S2"], STATIONS)}
    overdue = sum(rows[s]["feedback_overdue"] for s in ("S1", "S2")) / sum(
        rows[s]["feedback_due"] for s in ("S1", "S2")
    )
    assert run(client, "riskalert-wall", "Overdue feedback rate 超期反馈率", two) == [
        {"overdue_feedback_rate": overdue}
    ]
    fen = sum(rows[s]["amount_protected_fen"] for s in ("S1", "S2"))
    assert run(client, "riskalert-wall", "Amount protected 挽损", two) == [
        {"amount_protected_yuan": fen / 100}
    ]


def test_the_ranking_is_the_reports_rows(client: Client, reports: dict[str, Any]) -> None:
    shown = run(client, "riskalert-wall", "Station ranking 红黄牌")
    expected = [
        {
            "rank": item["rank"],
            "station": item["station"],
            "card": item["card"] or "",
            "tasks": item["tasks"],
            "overdue_feedback_rate": item["overdue_feedback_rate"],
            "step_compliance": item["step_compliance_pooled"],
            **{
                f"{step}_compliance": item["step_compliance"][step]
                for step in ("reception", "dispatch", "verification")
            },
        }
        for item in reports["week"]
        if item["station"] is not None
    ]
    assert shown == expected
    assert [row["card"] for row in shown] == ["", "red", "red"]  # default limits: 10 % overdue is red


def test_the_trend_counts_warnings_and_late_steps_per_china_day(client: Client) -> None:
    rows = run(client, "riskalert-wall", "Warnings and late steps, last 7 days")
    days = [
        (row["time"].astimezone(CHINA).date().isoformat(), row["warnings"], row["late_steps"]) for row in rows
    ]
    # 02-28: T8, all on time. 03-01: 9 warnings; late: T1 dispatch and cycle-2 feedback, T3 verification and
    # feedback, T5 feedback (S2's overdue round).
    assert days == [("2025-02-28", 1, 0), ("2025-03-01", 9, 5)]


# --- the ops board equals `riskalert kpi` with its filters --------------------------------------------


def test_ops_compliance_times_and_victimisation_equal_riskalert_kpi(
    client: Client, reports: dict[str, Any]
) -> None:
    for variables, report in (
        (ALL_SELECTED, total(reports["week"])),
        ({**ALL_SELECTED, "level": Variable(["HIGH"])}, total(reports["week HIGH"])),
        ({**ALL_SELECTED, "station": Variable(["S1"], STATIONS)}, reports["week S1"][0]),
        ({**ALL_SELECTED, "region": Variable(["370202"])}, total(reports["week"])),
    ):
        (rates,) = run(client, "riskalert-ops", "Step compliance 及时率", variables)
        assert rates == {
            **{
                f"{step}_compliance": report["step_compliance"][step]
                for step in ("reception", "dispatch", "verification")
            },
            "feedback_on_time": 1 - report["overdue_feedback_rate"],
        }
        times = run(client, "riskalert-ops", "Time to each step, p50 and p90", variables)
        assert times == [
            {"step": step, "p50_seconds": value["p50"], "p90_seconds": value["p90"]}
            for step, value in report["time_to_step_seconds"].items()
        ]
        (victims,) = run(client, "riskalert-ops", "Victimised after warning 预后被骗率", variables)
        assert victims == {
            "victimisation_rate": report["post_warning_victimisation_rate"],
            "victimisation_after_dissuasion_rate": report["post_warning_victimisation"]["after_dissuasion"],
            "victimisation_never_dissuaded_rate": report["post_warning_victimisation"]["never_dissuaded"],
            "warned_persons": report["counts"]["warned_persons"],
        }


def test_a_region_with_no_station_shows_nothing(client: Client) -> None:
    elsewhere = {**ALL_SELECTED, "region": Variable(["110101"])}
    (rates,) = run(client, "riskalert-ops", "Step compliance 及时率", elsewhere)
    assert set(rates.values()) == {None}


# --- the live panels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "verification"),
    [
        ("12:26", "10_to_25pct_left"),  # T3's verification is due 12:30, 30 minutes from 12:00: 4 left
        ("12:29", "under_10pct_left"),
        ("12:31", "breached"),
    ],
)
def test_open_tasks_by_step_and_time_left(client: Client, as_of: str, verification: str) -> None:
    at = QueryRange(china_ms("2025-02-23 00:00"), china_ms(f"2025-03-01 {as_of}"))
    rows = run(client, "riskalert-wall", "Open tasks by SLA step, by time left", query_range=at)
    # Open and created by then: T2, T3, T5, T6, T8 (fed back, not closed: no step), T10 (idem); T1 is closed.
    # T2 (feedback due 17:00 of 6 h), T5 (03-02 09:00 of 24 h), T6 (03-04 of 72 h): more than 25 % left.
    bands = {band: 0 for band in sql.BANDS}
    assert rows == [
        {"stage": "VERIFICATION", **bands, verification: 1},
        {"stage": "FEEDBACK", **bands, "more_than_25pct_left": 3},
    ]
    assert run(client, "riskalert-wall", "Open tasks", query_range=at) == [{"open_tasks": 6}]


def test_breaches_of_the_last_hour(client: Client) -> None:
    at = QueryRange(china_ms("2025-03-01 11:31"), china_ms("2025-03-01 12:31"))
    rows = run(client, "riskalert-wall", "Breaches in the last hour, by step", query_range=at)
    assert rows == [{"reception": 0, "dispatch": 0, "verification": 1, "feedback": 0}]  # T3, due 12:30


def test_overdue_tasks_link_to_the_task_view(client: Client) -> None:
    rows = run(client, "riskalert-ops", "Overdue tasks")
    # Breached and not done by the range's end (03-01 23:59:59): T3's feedback, due 18:00. T1's late dispatch
    # was done (and T1 is closed); T2's reception breach was a false alarm; T5's feedback is due on 03-02.
    assert rows == [
        {"task_id": "T3", "station": "S1", "level": "HIGH", "step": "FEEDBACK", "feedback_round": 1,
         "overdue_by_seconds": 6 * 3600 - 1, "masked_name": "张*"},
    ]  # fmt: skip
    only_s2 = {**ALL_SELECTED, "station": Variable(["S2"], STATIONS)}
    assert run(client, "riskalert-ops", "Overdue tasks", only_s2) == []


def test_the_task_view_shows_one_task_and_its_timeline(client: Client) -> None:
    (task,) = run(client, "riskalert-ops", "Task")
    assert (task["task_id"], task["level"], task["base_level"], task["status"]) == (
        "T1",
        "CRITICAL",
        "HIGH",
        "CLOSED",
    )
    timeline = run(client, "riskalert-ops", "Task timeline")
    events = [row["event"] for row in timeline]
    assert events[0] == "RECEIVED"
    assert "REFEEDBACK_REQUESTED" in events
    assert "SLA MET_LATE" in events
    assert [row["time"] for row in timeline] == sorted(row["time"] for row in timeline)
    # The scenario stores T1's first events twice (a replay under new tokens): each shows once.
    assert len(timeline) == len({tuple(row.values()) for row in timeline})
    assert events.count("RECEIVED") == 1
    assert events.count("SLA BREACHED") == 2


def test_breakdown_by_fraud_type_and_source(client: Client) -> None:
    rows = run(client, "riskalert-ops", "Tasks by fraud type and source")
    # Created 02-23..03-01: T1-T8 and T10; T1 was warned by BANK and JZZ, the others by JZZ.
    assert rows == [
        {"fraud_type": "FAKE_INVESTMENT", "source": "JZZ", "tasks": 9},
        {"fraud_type": "FAKE_INVESTMENT", "source": "BANK", "tasks": 1},
    ]
    bank = {**ALL_SELECTED, "source": Variable(["BANK"])}
    assert run(client, "riskalert-ops", "Tasks by fraud type and source", bank) == [
        {"fraud_type": "FAKE_INVESTMENT", "source": "BANK", "tasks": 1},
        {"fraud_type": "FAKE_INVESTMENT", "source": "JZZ", "tasks": 1},
    ]


def test_warnings_by_hour_lists_every_hour(client: Client) -> None:
    rows = run(client, "riskalert-ops", "Warnings by hour of day")
    assert [row["hour"] for row in rows] == list(range(24))  # the scenario stores no warnings: all zero


# --- the grants, the linter, promtool -------------------------------------------------------------


def test_the_grant_statements_parse(client: Client) -> None:
    for statement in grant_statements():
        formatted = client.query("SELECT formatQuery({text:String})", parameters={"text": statement})
        assert formatted.result_rows[0][0].split()[0] in ("CREATE", "GRANT", "SET")
    with pytest.raises(Exception, match="Syntax error"):
        client.query("SELECT formatQuery({text:String})", parameters={"text": "GRANT SELEC ON x TO y"})


LINTER = PROJECT_ROOT / ".local" / "bin" / "dashboard-linter"


@pytest.mark.parametrize("path", sorted(GRAFANA_DIR.glob("*.json")), ids=lambda path: Path(path).name)
def test_dashboard_linter_passes(path: Path) -> None:
    result = subprocess.run(
        [str(LINTER), "lint", "--strict", "--config", str(GRAFANA_DIR / ".lint"), str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_excluded_lint_rule_has_a_reason() -> None:
    config = yaml.safe_load((GRAFANA_DIR / ".lint").read_text(encoding="utf-8"))
    for rule, entry in config["exclusions"].items():
        assert len(entry["reason"]) > 20, rule
        for item in entry.get("entries", []):
            assert item["reason"], rule
            assert item["dashboard"], rule


def test_every_promql_expression_passes_promtool(tmp_path: Path) -> None:
    rules = [
        {
            "record": f"riskalert:dashboard_expression_{index}",
            "expr": expr.replace("$__rate_interval", "1m").replace("$region", ".*"),
        }
        for index, expr in enumerate(promql_expressions())
    ]
    variables = [v["query"]["query"] for v in dashboards()["riskalert-pipeline"]["templating"]["list"]]
    selectors = [re.sub(r"^label_values\((.*), \w+\)$", r"\1", query) for query in variables]
    rules += [{"record": f"riskalert:dashboard_variable_{i}", "expr": s} for i, s in enumerate(selectors)]
    path = tmp_path / "dashboard_expressions.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
