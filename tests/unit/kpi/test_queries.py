"""The KPI SQL texts: parameters, and agreement with migration 004 and docs/kpi.md."""

from __future__ import annotations

import re
from datetime import date

import pytest

from streams.db.migrate import load_migrations, statements
from streams.kpi import queries
from streams.settings import PROJECT_ROOT, load_settings

PERIOD_PARAMETERS = {"first_day", "last_day", "station", "level"}
THRESHOLD_PARAMETERS = {"yellow_overdue", "red_overdue", "yellow_compliance", "red_compliance"}
MIGRATIONS = "\n".join(migration.text for migration in load_migrations())


def _parameters(sql: str) -> set[str]:
    return set(re.findall(r"\{(\w+):\w+\}", sql))


@pytest.mark.parametrize("name", sorted(queries.ALL_QUERIES))
def test_queries_take_exactly_the_parameters_the_report_passes(name: str) -> None:
    sql = queries.ALL_QUERIES[name]
    extra = THRESHOLD_PARAMETERS if name in queries.THRESHOLD_QUERIES else set()
    assert "<<" not in sql
    assert _parameters(sql) == PERIOD_PARAMETERS | extra
    common = queries.period_parameters(date(2025, 3, 1), date(2025, 3, 1))
    assert set(queries.query_parameters(name, common, _thresholds())) == PERIOD_PARAMETERS | extra


def _thresholds() -> queries.CardThresholds:
    return queries.CardThresholds(0.05, 0.1, 0.95, 0.9)


def _statements() -> dict[str, str]:
    """The statements creating each table or view, the latest migration's where several do."""
    found = {}
    for sql in statements(MIGRATIONS, database="rk", ttl_days=30):
        match = re.search(r"^CREATE (?:TABLE|MATERIALIZED VIEW) IF NOT EXISTS rk\.(\w+)", sql, re.M)
        if match:
            found[match[1]] = sql
    return found


def test_the_queries_read_from_the_recent_cells_only_days_the_refresh_keeps() -> None:
    recent = _statements()["kpi_cells_recent_mv"]
    history = _statements()["kpi_cells_history_mv"]
    [recent_days, facts_days] = re.findall(r"WHERE day >= toDate\(now\(\), 'Asia/Shanghai'\) - (\d+)", recent)
    [history_before] = re.findall(r"WHERE day < toDate\(now\(\), 'Asia/Shanghai'\) - (\d+)", history)
    # The boundary lies inside both windows: every day comes from a table that holds it.
    assert int(history_before) < queries.RECENT_DAYS < int(recent_days)
    # A task's facts start on its creation day (a day earlier for a skewed clock): all of them are read.
    assert int(facts_days) == int(recent_days) + 1


def test_both_cell_tables_and_their_refreshes_are_the_same_but_for_the_days() -> None:
    made = _statements()
    tables = [
        made[name].split("(", 1)[1].split("\nENGINE", 1)[0]
        for name in ("kpi_cells_recent", "kpi_cells_history")
    ]
    assert tables[0] == tables[1]
    bodies = [
        re.sub(r"\n *WHERE day [<>]=? .*", "", made[name].split(" AS\n", 1)[1])
        for name in ("kpi_cells_recent_mv", "kpi_cells_history_mv")
    ]
    assert bodies[0] == bodies[1]
    columns = re.findall(r"^    (\w+) ", tables[0], re.M)
    outer = bodies[0].split("\nFROM", 1)[0]
    selected = re.findall(r"(?:AS (\w+)|^    (\w+)),?$", outer, re.M)
    assert [alias or name for alias, name in selected] == columns


def test_every_cell_column_a_query_reads_exists() -> None:
    columns = set(re.findall(r"^    (\w+) ", _statements()["kpi_cells_recent"], re.M))
    read = set(
        re.findall(
            r"\bsum\((\w+)\)|uniqExactMerge\((\w+)\)|Merge\(0\.5, 0\.9\)\((\w+)\)",
            queries.ALL_QUERIES["STATION_KPIS"] + queries.TIME_TO_STEP,
        )
    )
    assert {name for names in read for name in names if name} <= columns


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


def test_levels_rank_as_the_migration_ranks_them() -> None:
    assert (
        "indexOf(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'], toString(level))"
        in _statements()["kpi_task_attrs_by_day_mv"]
    )
    assert queries.LEVELS_BY_RANK == ("LOW", "MEDIUM", "HIGH", "CRITICAL")


def test_docs_name_every_query() -> None:
    doc = (PROJECT_ROOT / "docs" / "kpi.md").read_text(encoding="utf-8")
    for name in (*queries.ALL_QUERIES, "CELLS_IN_PERIOD", "RATE_COLUMNS"):
        assert f"`{name}`" in doc, name
