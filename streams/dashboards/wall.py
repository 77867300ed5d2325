"""The wall display (`riskalert-wall`): big tiles, breaches, the station ranking, open tasks by step
and the week's trend, for a television in the command room (kiosk mode, refreshed every 30 s)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DynamicConfigValue,
    ValueMap,
    VariableRefresh,
)

from streams.dashboards import sql
from streams.dashboards.grafana import (
    ALL,
    CLICKHOUSE,
    TIMEZONE,
    ClickHouseTarget,
    place,
    text_map,
    thresholds,
)
from streams.dashboards.panels import (
    GOOD_RATE_LIMITS,
    PERCENT,
    bar_chart,
    bar_gauge,
    colour,
    percent_columns,
    stat_tile,
    table_panel,
    time_series,
)
from streams.kpi import queries
from streams.settings import Settings

UID = "riskalert-wall"
TITLE = "riskalert wall"
KPI_PERIOD = (
    "The period is the dashboard's range in whole China days (default: the last 7 days, today "
    "included, as `riskalert kpi`)."
)
# The card thresholds of the ranking: the settings' defaults, as `riskalert kpi` uses them unless
# RISKALERT_KPI_* says otherwise (a centre that changes them regenerates the dashboards).
_DEFAULTS = Settings.model_fields
YELLOW_OVERDUE = float(_DEFAULTS["kpi_yellow_overdue_feedback_rate"].default)
RED_OVERDUE = float(_DEFAULTS["kpi_red_overdue_feedback_rate"].default)
YELLOW_COMPLIANCE = float(_DEFAULTS["kpi_yellow_step_compliance"].default)
RED_COMPLIANCE = float(_DEFAULTS["kpi_red_step_compliance"].default)
CARD_LIMITS = sql.card_limits(YELLOW_OVERDUE, RED_OVERDUE, YELLOW_COMPLIANCE, RED_COMPLIANCE)
FILTERS = sql.cell_filters(region=False, station=True, level=False)
STATION_KPIS = queries.station_kpis(FILTERS)


def station_variable() -> dash.QueryVariable:
    """The stations shown (multi-select, All by default): a station's own wall picks itself."""
    return (
        dash.QueryVariable("station")
        .label("Station")
        .description("Stations counted on this wall (All: the whole centre).")
        .datasource(CLICKHOUSE)
        .query("SELECT DISTINCT station_code FROM kpi_cells_recent ORDER BY station_code")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(True)
        .include_all(True)
        .current(ALL)
    )


def tiles() -> list[object]:
    """Today's warnings, open tasks and the headline rates."""
    overdue_limits = thresholds("green", (YELLOW_OVERDUE, "#EAB839"), (RED_OVERDUE, "red"))
    return [
        stat_tile(
            "Warnings today",
            "Distinct warnings (预警) merged into the tasks created today (China day); a merged warning "
            "counts once. "
            "The same `warnings` figure as `riskalert kpi --from <today> --to <today>`.",
            sql.total_of(STATION_KPIS, "warnings"),
            "short",
            thresholds("blue"),
        ).time_from("now/d"),
        stat_tile(
            "Open tasks",
            f"Tasks whose newest version is not CLOSED, created in the last {sql.OPEN_TASK_DAYS} days.",
            sql.open_task_count(sql.base_filters(station_only=True)),
            "short",
            thresholds("blue"),
        ),
        stat_tile(
            "Overdue feedback rate 超期反馈率",
            "Feedback rounds missing or late at their due time ÷ feedback rounds due, over the tasks "
            f"created in the period. Amber past {YELLOW_OVERDUE:.0%}, red past {RED_OVERDUE:.0%} (the card "
            f"limits). {KPI_PERIOD}",
            sql.total_of(STATION_KPIS, "overdue_feedback_rate"),
            PERCENT,
            overdue_limits,
        ),
        stat_tile(
            "Dissuasion success rate 劝阻成功率",
            "Tasks whose latest feedback is DISSUADED ÷ tasks whose latest feedback confirmed a risk (all "
            f"but NO_RISK). Red below 90 %, amber below 95 %. {KPI_PERIOD}",
            sql.total_of(STATION_KPIS, "dissuasion_rate"),
            PERCENT,
            thresholds("red", *GOOD_RATE_LIMITS),
        ),
        stat_tile(
            "Face-to-face rate 见面率",
            "Tasks with feedback and at least one face-to-face verification ÷ tasks with feedback. "
            f"Red below 90 %, amber below 95 %. {KPI_PERIOD}",
            sql.total_of(STATION_KPIS, "face_to_face_rate"),
            PERCENT,
            thresholds("red", *GOOD_RATE_LIMITS),
        ),
        stat_tile(
            "Amount protected 挽损",
            f"Sum over tasks of the latest feedback's amount protected, in yuan. {KPI_PERIOD}",
            sql.total_of(STATION_KPIS, "amount_protected_fen / 100 AS amount_protected_yuan"),
            "prefix:¥",
            thresholds("green"),
        ),
    ]


def breaches_last_hour() -> object:
    """Breach pages of the last hour, per step."""
    target = ClickHouseTarget(sql.breaches_by_step(sql.base_filters(station_only=True)))
    return (
        bar_gauge(
            "Breaches in the last hour, by step",
            "SLA steps whose due time passed in the last hour without the step done (BREACHED: a breach page "
            "went out), per step: 签收 reception, 派发 dispatch, 核查 verification, 反馈 feedback.",
            target,
            "short",
            thresholds("green", (1, "red")),
        )
        .datasource(CLICKHOUSE)
        .time_from("1h")
    )


def open_by_stage() -> object:
    """Open tasks per current step, by the share of the step's allowance left."""
    panel = bar_chart(
        "Open tasks by SLA step, by time left",
        "Open tasks by the step they are waiting for (the first not done), coloured by the share of that "
        "step's allowance left: green more than 25 %, amber 10-25 %, orange under 10 %, red breached. A step "
        "without an SLA event yet has more than half left (the first fires at 50 %).",
        sql.open_tasks_by_stage(sql.base_filters(station_only=True)),
        "stage",
        "short",
    ).thresholds(thresholds("green"))
    for band, color, name in zip(
        sql.BANDS,
        ("green", "#EAB839", "orange", "red"),
        ("> 25 % left", "10-25 % left", "< 10 % left", "breached"),
        strict=True,
    ):
        panel = colour(panel, band, color, name)
    return panel


def ranking() -> object:
    """The stations ranked, with their cards."""
    columns = (
        "rank, station_code AS station, card, tasks, overdue_feedback_rate, step_compliance, "
        "reception_compliance, dispatch_compliance, verification_compliance"
    )
    query = (
        f"SELECT {columns}\nFROM ({queries.station_ranking(FILTERS, CARD_LIMITS)})\n"
        "WHERE is_total = 0\nORDER BY rank, station"
    )
    panel = table_panel(
        "Station ranking 红黄牌",
        "Stations ranked on the overdue feedback rate (lower first), then pooled step compliance (higher "
        f"first). Red card: overdue feedback above {RED_OVERDUE:.0%} or step compliance below "
        f"{RED_COMPLIANCE:.0%}; yellow: above {YELLOW_OVERDUE:.0%} or below {YELLOW_COMPLIANCE:.0%}. "
        f"The rows of `riskalert kpi`. {KPI_PERIOD}",
        query,
        "none",
        thresholds("green"),
    )
    panel = percent_columns(
        panel,
        "overdue_feedback_rate",
        "step_compliance",
        "reception_compliance",
        "dispatch_compliance",
        "verification_compliance",
    )
    return panel.override_by_name(
        "card",
        [
            DynamicConfigValue(id_val="mappings", value=[m.to_json() for m in card_mappings()]),
            DynamicConfigValue(id_val="custom.cellOptions", value={"type": "color-background"}),
        ],
    )


def card_mappings() -> list[ValueMap]:
    """Card codes as the wall shows them."""
    return text_map(
        {"red": ("红牌 RED", "red"), "yellow": ("黄牌 YELLOW", "#EAB839"), "": ("–", "transparent")}
    )


def trend() -> object:
    """Warnings and late steps per day over the last 7 days."""
    target = ClickHouseTarget(sql.daily_trend(FILTERS), time_series=True)
    panel = time_series(
        "Warnings and late steps, last 7 days",
        "Per China day of task creation: distinct warnings, and steps and feedback rounds not done by their "
        "due time (the KPI counts behind the compliance and overdue rates).",
        target,
        "short",
    ).datasource(CLICKHOUSE)
    panel = colour(panel, "warnings", "blue", "warnings")
    return (
        colour(panel, "late_steps", "red", "late steps").time_from("now-6d/d").thresholds(thresholds("green"))
    )


def build() -> dash.Dashboard:
    """The wall dashboard."""
    layout = [
        *((tile, (4 * index, 0, 4, 5)) for index, tile in enumerate(tiles())),
        (breaches_last_hour(), (0, 5, 8, 9)),
        (open_by_stage(), (8, 5, 16, 9)),
        (ranking(), (0, 14, 12, 11)),
        (trend(), (12, 14, 12, 11)),
    ]
    board = (
        dash.Dashboard(TITLE)
        .uid(UID)
        .description("The centre's wall display: where the centre and its stations stand, for kiosk mode.")
        .tags(["riskalert"])
        .timezone(TIMEZONE)
        .time("now-6d/d", "now/d")
        .refresh("30s")
        .readonly()
        .tooltip(DashboardCursorSync.OFF)
        .with_variable(station_variable())
    )
    for panel_id, (panel, (x, y, w, h)) in enumerate(layout, start=1):
        board = board.with_panel(place(panel, x, y, w, h, panel_id))
    return board
