"""The KPIs as SQL, defined once. `riskalert kpi`, its HTTP API, the tests, the benchmark and the
dashboards run these texts; docs/kpi.md explains every definition and choice.

Every query takes the same ClickHouse query parameters (`period_parameters`):
- `{first_day:Date}`, `{last_day:Date}`: the period, whole days in China time, both included;
- `{station:String}`: one station's code, or '' for every station;
- `{level:String}`: one level (CRITICAL, HIGH, MEDIUM, LOW), or '' for every level;
- the ranking also takes the card thresholds (`CardThresholds.parameters`).
The texts are built by functions of a `CellFilters` (the period and the filters as SQL): the module's
constants use `PARAMETERS` (the query parameters above); the Grafana panels
(`streams.dashboards.sql`) build the same queries with the ClickHouse plugin's macros and dashboard
variables in their place, so a panel and `riskalert kpi` compute a rate with one text.

What is counted, and how, is in migrations 004 and 005: per-task facts are kept on insert, by day
(`kpi_task_attrs_by_day`, `kpi_task_facts_by_day`), and refreshable views join them per task and
recompute the counts per cell (the tasks created on one China day at one station with one level) into
`kpi_cells_recent` (last 40 days, every minute) and `kpi_cells_history` (older days, daily). These
queries read cells only and turn counts into rates, so their cost follows the number of cells, not
tasks.

The per-station queries return one row per station and, through `GROUPING SETS`, one more row for
all stations together (`is_total = 1`, `station_code = ''`) computed by the same expressions: a
total is never an average of station rates.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from streams.settings import Settings

# Level ranks in the KPI tables and cells: the position in this list (0: unknown). Levels only rise.
LEVELS_BY_RANK = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
LEVELS = tuple(reversed(LEVELS_BY_RANK))
STEPS = ("reception", "dispatch", "verification")
TIMED_STEPS = (*STEPS, "feedback")
# Days read from kpi_cells_recent (refreshed over 40 days); older days from kpi_cells_history
# (refreshed over the days before the last 30). A unit test keeps these in step with the migrations.
RECENT_DAYS = 35
TIME_QUANTILES = (0.5, 0.9)


def _compose(template: str, **parts: str) -> str:
    """`template` with each `<<NAME>>` replaced by a part: sub-queries and lists, all constants here."""
    for name, text in parts.items():
        template = template.replace(f"<<{name}>>", text.strip())
    if "<<" in template:
        raise ValueError(f"unfilled part in {template!r}")
    return template


@dataclass(frozen=True)
class CellFilters:
    """Which cells a KPI query reads, as SQL: the period's first and last China day (`Date`
    expressions, both included) and boolean conditions on a cell's `station_code` and `level_rank`."""

    first_day: str
    last_day: str
    station: str
    level: str

    def where(self) -> str:
        """The WHERE condition of a cell: in the period and past the filters."""
        return (
            f"day BETWEEN {self.first_day} AND {self.last_day}\n    AND {self.station}\n    AND {self.level}"
        )


LEVEL_NAMES_SQL = "[" + ", ".join(f"'{level}'" for level in LEVELS_BY_RANK) + "]"

# The query parameters `riskalert kpi` and its API bind (`period_parameters`).
PARAMETERS = CellFilters(
    first_day="{first_day:Date}",
    last_day="{last_day:Date}",
    station="({station:String} = '' OR station_code = {station:String})",
    level=f"({{level:String}} = '' OR level_rank = indexOf({LEVEL_NAMES_SQL}, {{level:String}}))",
)


def cells_in_period(filters: CellFilters) -> str:
    """The period's cells after the filters: recent days from kpi_cells_recent, older ones from
    kpi_cells_history; the boundary lies inside both tables' windows, so no day is read twice or missed."""
    return _compose(
        """
SELECT *
FROM kpi_cells_recent
WHERE day >= toDate(now(), 'Asia/Shanghai') - <<RECENT_DAYS>> AND <<FILTERS>>
UNION ALL
SELECT *
FROM kpi_cells_history
WHERE day < toDate(now(), 'Asia/Shanghai') - <<RECENT_DAYS>> AND <<FILTERS>>
""",
        RECENT_DAYS=str(RECENT_DAYS),
        FILTERS=filters.where(),
    )


CELLS_IN_PERIOD = cells_in_period(PARAMETERS)


def _sum_columns(names: tuple[str, ...]) -> str:
    return ",\n    ".join(f"sum({name}) AS {name}" for name in names)


def _step_rate(step: str) -> str:
    """签收/派发/核查及时率: steps done by their due time ÷ steps whose due time has passed."""
    return f"if({step}_due = 0, NULL, {step}_met / {step}_due) AS {step}_compliance"


# Every count-based KPI over a group of cells, each defined once here:
# - step compliance per step, and pooled over reception, dispatch and verification for the ranking;
# - 超期反馈率: feedback units (one per cycle) missing or late at their due time ÷ units due;
# - 见面率: tasks with feedback and a face-to-face verification ÷ tasks with feedback;
# - 劝阻成功率: tasks whose latest feedback is DISSUADED ÷ tasks whose latest feedback confirmed a risk;
# - 挽损: the latest feedback's amount protected, summed over tasks (fen);
# - 预后被骗率: warned persons who became victims within 30 days ÷ warned persons, split into after
#   dissuasion (劝阻后发案) and never dissuaded (未劝阻发案), which add up to the whole;
# - warnings: distinct warnings merged into the tasks.
RATE_COLUMNS = _compose(
    """
<<SUMS>>,
    <<STEP_RATES>>,
    feedback_due - feedback_met AS feedback_overdue,
    if(feedback_due = 0, NULL, feedback_overdue / feedback_due) AS overdue_feedback_rate,
    reception_due + dispatch_due + verification_due AS steps_due,
    reception_met + dispatch_met + verification_met AS steps_met,
    if(steps_due = 0, NULL, steps_met / steps_due) AS step_compliance,
    if(tasks_with_feedback = 0, NULL, face_to_face / tasks_with_feedback) AS face_to_face_rate,
    if(risk_confirmed = 0, NULL, dissuaded / risk_confirmed) AS dissuasion_rate,
    uniqExactMerge(warned_persons) AS warned_persons,
    uniqExactMerge(victimised_persons) AS victimised_persons,
    uniqExactMerge(victimised_after_dissuasion) AS victimised_after_dissuasion,
    victimised_persons - victimised_after_dissuasion AS victimised_never_dissuaded,
    if(warned_persons = 0, NULL, victimised_persons / warned_persons) AS victimisation_rate,
    if(warned_persons = 0, NULL, victimised_after_dissuasion / warned_persons)
        AS victimisation_after_dissuasion_rate,
    if(warned_persons = 0, NULL, victimised_never_dissuaded / warned_persons)
        AS victimisation_never_dissuaded_rate
""",
    SUMS=_sum_columns(
        (
            "tasks",
            "warnings",
            *(f"{step}_{kind}" for step in TIMED_STEPS for kind in ("due", "met")),
            "tasks_with_feedback",
            "face_to_face",
            "risk_confirmed",
            "dissuaded",
            "amount_protected_fen",
        )
    ),
    STEP_RATES=",\n    ".join(_step_rate(step) for step in STEPS),
)


def station_kpis(filters: CellFilters) -> str:
    """Every count-based KPI per station, and for all stations together (is_total = 1)."""
    return _compose(
        """
SELECT
    station_code,
    grouping(station_code) AS is_total,
    <<RATE_COLUMNS>>
FROM (<<CELLS_IN_PERIOD>>)
GROUP BY GROUPING SETS ((station_code), ())
""",
        RATE_COLUMNS=RATE_COLUMNS,
        CELLS_IN_PERIOD=cells_in_period(filters),
    )


@dataclass(frozen=True)
class CardLimits:
    """The card thresholds as SQL: query parameters for the command, numbers for a dashboard."""

    yellow_overdue: str = "{yellow_overdue:Float64}"
    red_overdue: str = "{red_overdue:Float64}"
    yellow_compliance: str = "{yellow_compliance:Float64}"
    red_compliance: str = "{red_compliance:Float64}"


# 红黄牌: stations ranked on the overdue feedback rate (lower first), then the pooled step compliance
# (higher first); equal figures share a rank; a station with nothing due ranks last. A station past a
# yellow threshold gets a yellow card, past a red one a red card. The total row has no rank or card.
def station_ranking(filters: CellFilters, limits: CardLimits | None = None) -> str:
    """`station_kpis` with each station's rank and card (`limits`: the thresholds' SQL)."""
    limits = limits or CardLimits()
    return _compose(
        """
SELECT
    *,
    if(is_total = 1, '', multiIf(
        ifNull(overdue_feedback_rate > <<RED_OVERDUE>>, 0)
            OR ifNull(step_compliance < <<RED_COMPLIANCE>>, 0), 'red',
        ifNull(overdue_feedback_rate > <<YELLOW_OVERDUE>>, 0)
            OR ifNull(step_compliance < <<YELLOW_COMPLIANCE>>, 0), 'yellow',
        ''
    )) AS card,
    if(is_total = 1, 0, rank() OVER (
        PARTITION BY is_total
        ORDER BY ifNull(overdue_feedback_rate, 2) ASC, ifNull(step_compliance, -1) DESC
    )) AS rank
FROM (<<STATION_KPIS>>)
ORDER BY is_total, rank, station_code
""",
        STATION_KPIS=station_kpis(filters),
        RED_OVERDUE=limits.red_overdue,
        RED_COMPLIANCE=limits.red_compliance,
        YELLOW_OVERDUE=limits.yellow_overdue,
        YELLOW_COMPLIANCE=limits.yellow_compliance,
    )


def _time_columns(step: str) -> str:
    """p50/p90 seconds from creation to the step, over the tasks that completed it (NULL if none)."""
    return (
        f"sum({step}_timed) AS {step}_timed,\n"
        f"    quantilesExactMerge{TIME_QUANTILES}({step}_seconds) AS {step}_quantiles,\n"
        f"    if({step}_timed = 0, NULL, {step}_quantiles[1]) AS {step}_p50_seconds,\n"
        f"    if({step}_timed = 0, NULL, {step}_quantiles[2]) AS {step}_p90_seconds"
    )


# p50/p90 time from a task's creation to each step (a later step's event completes the earlier ones),
# in whole seconds, over the tasks that completed the step; per station and for all stations.
def time_to_step(filters: CellFilters) -> str:
    """p50/p90 seconds from creation to each step, per station and for all stations (is_total = 1)."""
    return _compose(
        """
SELECT
    station_code,
    grouping(station_code) AS is_total,
    <<TIME_COLUMNS>>
FROM (<<CELLS_IN_PERIOD>>)
GROUP BY GROUPING SETS ((station_code), ())
""",
        TIME_COLUMNS=",\n    ".join(_time_columns(step) for step in TIMED_STEPS),
        CELLS_IN_PERIOD=cells_in_period(filters),
    )


# Every count-based KPI per day of creation and station, and per day for all stations (is_total = 1):
# the time series behind dashboard panels.
def daily_kpis(filters: CellFilters) -> str:
    """Every count-based KPI per creation day and station, and per day for all stations."""
    return _compose(
        """
SELECT
    day,
    station_code,
    grouping(station_code) AS is_total,
    <<RATE_COLUMNS>>
FROM (<<CELLS_IN_PERIOD>>)
GROUP BY GROUPING SETS ((day, station_code), (day))
ORDER BY day, is_total, station_code
""",
        RATE_COLUMNS=RATE_COLUMNS,
        CELLS_IN_PERIOD=cells_in_period(filters),
    )


STATION_KPIS = station_kpis(PARAMETERS)
STATION_RANKING = station_ranking(PARAMETERS)
TIME_TO_STEP = time_to_step(PARAMETERS)
DAILY_KPIS = daily_kpis(PARAMETERS)

# The queries behind one `riskalert kpi` report, by name.
REPORT_QUERIES = {"STATION_RANKING": STATION_RANKING, "TIME_TO_STEP": TIME_TO_STEP}
# Every standalone KPI query (the benchmark times each); the others are parts of these.
ALL_QUERIES = {**REPORT_QUERIES, "STATION_KPIS": STATION_KPIS, "DAILY_KPIS": DAILY_KPIS}
THRESHOLD_QUERIES = frozenset({"STATION_RANKING"})


@dataclass(frozen=True)
class CardThresholds:
    """When a station gets a card: overdue feedback rate above, or step compliance below, a threshold."""

    yellow_overdue: float
    red_overdue: float
    yellow_compliance: float
    red_compliance: float

    @classmethod
    def from_settings(cls, settings: Settings) -> CardThresholds:
        """The thresholds configured by `RISKALERT_KPI_*`."""
        return cls(
            yellow_overdue=settings.kpi_yellow_overdue_feedback_rate,
            red_overdue=settings.kpi_red_overdue_feedback_rate,
            yellow_compliance=settings.kpi_yellow_step_compliance,
            red_compliance=settings.kpi_red_step_compliance,
        )

    def parameters(self) -> dict[str, float]:
        """The ranking query's threshold parameters."""
        return {
            "yellow_overdue": self.yellow_overdue,
            "red_overdue": self.red_overdue,
            "yellow_compliance": self.yellow_compliance,
            "red_compliance": self.red_compliance,
        }


def period_parameters(
    first_day: date, last_day: date, station: str | None = None, level: str | None = None
) -> dict[str, Any]:
    """The parameters every KPI query takes: the period (both days included) and the filters."""
    return {"first_day": first_day, "last_day": last_day, "station": station or "", "level": level or ""}


def query_parameters(name: str, common: dict[str, Any], thresholds: CardThresholds) -> dict[str, Any]:
    """The parameters of the query `name`: the common ones, plus the thresholds for the ranking."""
    return {**common, **(thresholds.parameters() if name in THRESHOLD_QUERIES else {})}
