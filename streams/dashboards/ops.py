"""The ops detail board (`riskalert-ops`): filters, step compliance and time to each step, overdue
tasks linking to the task view, breakdowns, victimisation after warning, and the task view that the
pager's pages link to (`streams.logic.pager_push.GRAFANA_TASK_VIEW`)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DynamicConfigValue,
    VariableOption,
    VariableRefresh,
)

from streams.dashboards import sql
from streams.dashboards.grafana import (
    ALL,
    CLICKHOUSE,
    TASK_VIEW_LINK,
    TIMEZONE,
    ClickHouseTarget,
    place,
    thresholds,
)
from streams.dashboards.panels import (
    GOOD_RATE_LIMITS,
    PERCENT,
    bar_chart,
    bar_gauge,
    colour,
    stat_tile,
    table_panel,
)
from streams.kpi import queries
from streams.logic.pager_push import TASK_VIEW_UID, TASK_VIEW_VARIABLE

UID = TASK_VIEW_UID
TITLE = "riskalert ops"
FILTERS = sql.cell_filters(region=True, station=True, level=True)
BASE_FILTERS = sql.base_filters()
KPI_SCOPE = (
    "Over the tasks created in the period (whole China days, as `riskalert kpi`), filtered by region, "
    "station and level; the KPI counts are kept per station and level, so the fraud type and source "
    "filters do not apply here."
)
# Variable name, label, and the query listing its values (each column exists in its table: tested).
VARIABLES = (
    (
        "region",
        "Region",
        "SELECT DISTINCT region_code FROM tasks WHERE created_at > now() - INTERVAL 90 DAY"
        " ORDER BY region_code",
    ),
    (
        "station",
        "Station",
        "SELECT DISTINCT station_code FROM tasks WHERE created_at > now() - INTERVAL 90 DAY"
        " AND $__conditionalAll(region_code IN (${region:singlequote}), $region) ORDER BY station_code",
    ),
    (
        "fraud_type",
        "Fraud type",
        "SELECT DISTINCT fraud_type FROM tasks WHERE created_at > now() - INTERVAL 90 DAY"
        " ORDER BY fraud_type",
    ),
    (
        "source",
        "Source",
        "SELECT DISTINCT source FROM alerts WHERE issued_at > now() - INTERVAL 90 DAY ORDER BY source",
    ),
)


def variables() -> list[object]:
    """Region, station, level, fraud type and source (multi-select with All), and the task id."""
    made: list[object] = [
        dash.QueryVariable(name)
        .label(label)
        .datasource(CLICKHOUSE)
        .query(query)
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .current(ALL)
        for name, label, query in VARIABLES
    ]
    made.insert(
        2,
        dash.CustomVariable("level")
        .label("Level")
        .values(",".join(queries.LEVELS))
        .options([VariableOption(selected=False, text=level, value=level) for level in queries.LEVELS])
        .multi(True)
        .include_all(True)
        .current(ALL),
    )
    made.append(
        dash.TextBoxVariable(TASK_VIEW_VARIABLE)
        .label("Task id")
        .default_value("")
        .description("The task shown in the task view (pages link here with it set).")
    )
    return made


def task_view() -> list[tuple[object, tuple[int, int, int, int]]]:
    """The task of the `task_id` variable: its attributes and its timeline (no time range applies)."""
    details = table_panel(
        "Task",
        "The task's newest version: station, level (and the level before any raise), fraud type, sources, "
        "status and masked name. Set by the `task_id` variable; pages link here.",
        sql.task_details(),
        "none",
        thresholds("green"),
    )
    timeline = table_panel(
        "Task timeline",
        "Every lifecycle event (签收, 派发, 核查, 反馈, 二次反馈, measures, victimisation) and SLA event "
        "(at risk, breached, met, met late; with its due time) of the task, in time order.",
        sql.task_timeline(),
        "none",
        thresholds("green"),
    )
    return [(details, (0, 0, 24, 4)), (timeline, (0, 4, 24, 8))]


def compliance() -> list[tuple[object, tuple[int, int, int, int]]]:
    """Step compliance, feedback on time, and p50/p90 time to each step."""
    columns = (
        "reception_compliance, dispatch_compliance, verification_compliance, "
        "1 - overdue_feedback_rate AS feedback_on_time"
    )
    rates = (
        bar_gauge(
            "Step compliance 及时率",
            "Steps done by their due time ÷ steps whose due time passed or that were done: 签收 reception, "
            "派发 dispatch, 核查 verification, and feedback rounds on time (1 − overdue feedback rate). "
            f"{KPI_SCOPE}",
            ClickHouseTarget(sql.total_of(queries.station_kpis(FILTERS), columns)),
            PERCENT,
            thresholds("red", *GOOD_RATE_LIMITS),
        )
        .datasource(CLICKHOUSE)
        .min(0)
        .max(1)
    )
    times = table_panel(
        "Time to each step, p50 and p90",
        "Seconds from the task's creation to the first completion of each step (a later step completes the "
        f"earlier ones), over the tasks that completed it; exact quantiles. {KPI_SCOPE}",
        sql.step_times(FILTERS),
        "s",
        thresholds("green"),
    )
    return [(rates, (0, 12, 12, 8)), (times, (12, 12, 12, 8))]


def overdue() -> tuple[object, tuple[int, int, int, int]]:
    """Overdue steps of open tasks, each linking to its task view."""
    panel = table_panel(
        "Overdue tasks",
        "Steps whose due time fell in the range, breached and still not done, of tasks not closed: task id "
        "(links to the task view), station, level, step, feedback round, overdue by, masked name. All "
        "filters apply.",
        sql.overdue_steps(BASE_FILTERS),
        "none",
        thresholds("green"),
    )
    link = {"title": "Task view", "url": TASK_VIEW_LINK}
    panel = panel.override_by_name("task_id", [DynamicConfigValue(id_val="links", value=[link])])
    panel = panel.override_by_name("overdue_by_seconds", [DynamicConfigValue(id_val="unit", value="s")])
    return panel, (0, 20, 24, 10)


def breakdowns() -> list[tuple[object, tuple[int, int, int, int]]]:
    """Tasks by fraud type and source, warnings by hour of day, victimisation after warning."""
    by_type = table_panel(
        "Tasks by fraud type and source",
        "Tasks created in the period's China days (newest version), per fraud type and warning source; a "
        "task warned by two sources counts under both. All filters apply.",
        sql.tasks_by_fraud_type_and_source(BASE_FILTERS),
        "short",
        thresholds("green"),
    )
    by_hour = bar_chart(
        "Warnings by hour of day",
        "Distinct warnings issued in the range, per China hour of day. All filters apply.",
        sql.warnings_by_hour(sql.base_filters(sources_column="source")),
        "hour",
        "short",
    ).thresholds(thresholds("green"))
    by_hour = colour(by_hour, "warnings", "blue", "warnings")
    columns = (
        "victimisation_rate, victimisation_after_dissuasion_rate, victimisation_never_dissuaded_rate, "
        "warned_persons"
    )
    victims = stat_tile(
        "Victimised after warning 预后被骗率",
        "Warned persons who became victims within 30 days ÷ warned persons, split into after dissuasion "
        f"(劝阻后发案) and never dissuaded (未劝阻发案), which add up to the whole. {KPI_SCOPE}",
        sql.total_of(queries.station_kpis(FILTERS), columns),
        PERCENT,
        thresholds("green", (0.01, "#EAB839"), (0.05, "red")),
    )
    victims = victims.override_by_name(
        "warned_persons",
        [
            DynamicConfigValue(id_val="unit", value="short"),
            DynamicConfigValue(id_val="thresholds", value=thresholds("blue").build().to_json()),
        ],
    )
    for name, shown in (
        ("victimisation_rate", "victimised"),
        ("victimisation_after_dissuasion_rate", "after dissuasion"),
        ("victimisation_never_dissuaded_rate", "never dissuaded"),
        ("warned_persons", "warned persons"),
    ):
        victims = victims.override_by_name(name, [DynamicConfigValue(id_val="displayName", value=shown)])
    return [(by_type, (0, 30, 10, 10)), (by_hour, (10, 30, 8, 10)), (victims, (18, 30, 6, 10))]


def build() -> dash.Dashboard:
    """The ops detail dashboard."""
    layout = [*task_view(), *compliance(), overdue(), *breakdowns()]
    board = (
        dash.Dashboard(TITLE)
        .uid(UID)
        .description("The centre's detail board: compliance, overdue tasks, breakdowns and the task view.")
        .tags(["riskalert"])
        .timezone(TIMEZONE)
        .time("now-6d/d", "now/d")
        .refresh("1m")
        .readonly()
        .tooltip(DashboardCursorSync.CROSSHAIR)
    )
    for variable in variables():
        board = board.with_variable(variable)  # type: ignore[arg-type]  # builders of VariableModel
    for panel_id, (panel, (x, y, w, h)) in enumerate(layout, start=1):
        board = board.with_panel(place(panel, x, y, w, h, panel_id))
    return board
