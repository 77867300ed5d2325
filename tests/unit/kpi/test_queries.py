"""The KPI module's pure parts: periods, parameters, the report join and formatting."""

from __future__ import annotations

import re
from datetime import date

import pytest

from streams.kpi import queries
from streams.kpi.report import Period, format_cell, merge_by_station, period_of
from streams.settings import PROJECT_ROOT, load_settings

PERIOD_PARAMETERS = {"since", "until", "station"}
THRESHOLD_PARAMETERS = {"yellow_overdue", "red_overdue", "yellow_compliance", "red_compliance"}


def _parameters(sql: str) -> set[str]:
    return set(re.findall(r"\{(\w+):\w+\}", sql))


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (queries.STEP_COMPLIANCE, PERIOD_PARAMETERS),
        (queries.STATION_RANKING, PERIOD_PARAMETERS | THRESHOLD_PARAMETERS),
        (queries.TASK_OUTCOMES, PERIOD_PARAMETERS),
        (queries.WARNINGS, PERIOD_PARAMETERS),
    ],
)
def test_queries_take_exactly_the_parameters_the_report_passes(sql: str, expected: set[str]) -> None:
    assert "<<" not in sql
    assert _parameters(sql) == expected


def test_thresholds_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("YELLOW_OVERDUE_FEEDBACK_RATE", "YELLOW_STEP_COMPLIANCE", "RED_STEP_COMPLIANCE"):
        monkeypatch.delenv(f"RISKALERT_KPI_{name}", raising=False)
    monkeypatch.setenv("RISKALERT_KPI_RED_OVERDUE_FEEDBACK_RATE", "0.2")
    thresholds = queries.CardThresholds.from_settings(load_settings())
    assert thresholds.parameters() == {
        "yellow_overdue": 0.05,
        "red_overdue": 0.2,
        "yellow_compliance": 0.95,
        "red_compliance": 0.90,
    }


def test_period_defaults_to_the_last_week_including_today() -> None:
    assert period_of(None, None, today=date(2026, 3, 10)) == Period(date(2026, 3, 4), date(2026, 3, 11))
    assert period_of(date(2026, 1, 1), None, today=date(2026, 3, 10)).until == date(2026, 3, 11)
    assert period_of(None, date(2026, 2, 1)) == Period(date(2026, 1, 25), date(2026, 2, 1))


def test_a_period_must_end_after_it_starts() -> None:
    with pytest.raises(ValueError, match=r"ends \(2026-01-01\) before it starts \(2026-01-01\)"):
        Period(date(2026, 1, 1), date(2026, 1, 1))


def test_merge_keeps_ranking_order_then_adds_other_stations_by_code() -> None:
    ranking = [{"station_code": "S2", "rank": 1}, {"station_code": "S1", "rank": 2}]
    outcomes = [
        {"station_code": "S9", "tasks": 1},
        {"station_code": "S1", "tasks": 5},
        {"station_code": "S3"},
    ]
    assert merge_by_station(ranking, outcomes) == [
        {"station_code": "S2", "rank": 1},
        {"station_code": "S1", "rank": 2, "tasks": 5},
        {"station_code": "S3"},
        {"station_code": "S9", "tasks": 1},
    ]


def test_merge_refuses_a_column_from_two_queries() -> None:
    with pytest.raises(ValueError, match=r"KPI columns \['tasks'\] come from two queries"):
        merge_by_station([{"station_code": "S1", "tasks": 3}], [{"station_code": "S1", "tasks": 2}])


def test_cells() -> None:
    assert format_cell(None, "rate") == "-"
    assert format_cell(0.9975, "rate") == "99.8%"
    assert format_cell("red", "card") == "[red]red[/red]"
    assert format_cell("", "card") == ""
    assert format_cell("[x]", "text") == "\\[x]"


def _normalised(sql: str) -> str:
    return " ".join(sql.split()).replace("( ", "(").replace(" )", ")")


def test_the_sql_in_the_docs_is_the_sql_that_runs() -> None:
    doc = (PROJECT_ROOT / "docs" / "clickhouse.md").read_text(encoding="utf-8")
    section = doc.split("## KPI definitions", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sql\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    texts = [_normalised(sql) for sql in (queries.SLA_UNITS, queries.TASKS_IN_PERIOD)]
    for block in blocks:
        assert _normalised(block) in texts
