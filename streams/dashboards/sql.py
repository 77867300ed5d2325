"""The ClickHouse SQL of the dashboard panels.

The KPI panels run `streams.kpi.queries`' own texts, built with `GRAFANA_PERIOD` and the dashboard's
variables in place of the command's query parameters: the grafana-clickhouse-datasource plugin
expands `$__fromTime`/`$__toTime` (the panel's range) and `$__conditionalAll` (a filter that becomes
`1=1` when a variable selects All), and Grafana interpolates `${var:singlequote}` as
`'a','b'`. The period is whole China days, as for `riskalert kpi`: the dashboards run in the
Asia/Shanghai time zone, and `toDate(…, 'Asia/Shanghai')` turns the range's ends into China days
whatever the server's zone.

The other panels (live task state, breaches, breakdowns, the task view) read the base tables, with
the same variables. Every text here is run on chDB against the KPI test scenario by the tests.
"""

from __future__ import annotations

from streams.kpi import queries
from streams.kpi.queries import CardLimits, CellFilters

CHINA = "'Asia/Shanghai'"
FIRST_DAY = f"toDate($__fromTime, {CHINA})"
LAST_DAY = f"toDate($__toTime, {CHINA})"
STEPS = ("RECEPTION", "DISPATCH", "VERIFICATION", "FEEDBACK")
# Bands of an open task's current step by the share of its allowance left.
BANDS = ("more_than_25pct_left", "10_to_25pct_left", "under_10pct_left", "breached")
# How far back open tasks are looked for: past every step's due time under any sane policy.
OPEN_TASK_DAYS = 30
# "Now" for the live panels: the range's end, or now when the range ends later (today's end).
AS_OF = "least($__toTime, now())"


def any_of(column: str, variable: str) -> str:
    """`column` is one of the variable's selected values; no condition when it selects All."""
    return f"$__conditionalAll({column} IN (${{{variable}:singlequote}}), ${variable})"


def level_rank_in(variable: str) -> str:
    """A cell's level rank is one of the selected levels (the cells keep ranks, not names)."""
    names = f"[${{{variable}:singlequote}}]"
    ranks = f"arrayMap(level_name -> indexOf({queries.LEVEL_NAMES_SQL}, level_name), {names})"
    return f"$__conditionalAll(has({ranks}, level_rank), ${variable})"


def stations_of_regions(variable: str) -> str:
    """A station belongs to one of the selected regions (cells carry stations; tasks map them)."""
    stations = f"SELECT DISTINCT station_code FROM tasks WHERE region_code IN (${{{variable}:singlequote}})"
    return f"$__conditionalAll(station_code IN ({stations}), ${variable})"


def cell_filters(*, region: bool, station: bool, level: bool) -> CellFilters:
    """The KPI cell filters of a dashboard: its range's China days, and the variables it has."""
    conditions = [stations_of_regions("region")] if region else []
    conditions += [any_of("station_code", "station")] if station else []
    return CellFilters(
        first_day=FIRST_DAY,
        last_day=LAST_DAY,
        station=" AND ".join(conditions) or "1 = 1",
        level=level_rank_in("level") if level else "1 = 1",
    )


def card_limits(
    yellow_overdue: float, red_overdue: float, yellow_compliance: float, red_compliance: float
) -> CardLimits:
    """The card thresholds as numbers (a panel cannot bind query parameters)."""
    return CardLimits(
        yellow_overdue=repr(yellow_overdue),
        red_overdue=repr(red_overdue),
        yellow_compliance=repr(yellow_compliance),
        red_compliance=repr(red_compliance),
    )


def total_of(kpi_query: str, columns: str) -> str:
    """`columns` of the all-stations row of a per-station KPI query."""
    return f"SELECT {columns}\nFROM ({kpi_query})\nWHERE is_total = 1"


def base_filters(*, station_only: bool = False, sources_column: str = "sources") -> str:
    """The ops variables (region, station, level, fraud type, source) as a condition on a base table's
    (or sub-query's) own columns; `station_only` for the wall, which has only the station variable.
    `sources_column`: `sources` (a task's array) or `source` (a warning's)."""
    if station_only:
        return any_of("station_code", "station")
    if sources_column == "sources":
        source = "$__conditionalAll(hasAny(sources, [${source:singlequote}]), $source)"
    else:
        source = any_of(sources_column, "source")
    conditions = [
        any_of("region_code", "region"),
        any_of("station_code", "station"),
        any_of("level", "level"),
        any_of("fraud_type", "fraud_type"),
        source,
    ]
    return "\n    AND ".join(conditions)


def current_tasks(where: str, columns: str) -> str:
    """Each task's newest version (tasks keeps every version): `columns` as `argMax(c, version) AS c`.
    `where` filters the versions, naming their columns as `version_row.c` (a bare name would be the
    aggregate of the same name)."""
    picked = ",\n        ".join(f"argMax({column}, version) AS {column}" for column in columns.split(", "))
    return f"""SELECT
        task_id,
        {picked}
    FROM tasks AS version_row
    WHERE {where}
    GROUP BY task_id"""


def breaches_by_step(filters: str) -> str:
    """BREACHED SLA events (breach pages) whose due time is in the range, per step."""
    counts = ",\n    ".join(f"uniqExactIf(event_id, step = '{step}') AS {step.lower()}" for step in STEPS)
    return f"""SELECT
    {counts}
FROM sla_events
WHERE kind = 'BREACHED' AND $__timeFilter(due_at)
    AND {filters}"""


def open_tasks(filters: str) -> str:
    """Open tasks now: newest version not CLOSED, created in the last days before the range's end."""
    task_columns = "status, station_code, region_code, level, fraud_type, sources, created_at"
    window = (
        f"version_row.created_at > {AS_OF} - INTERVAL {OPEN_TASK_DAYS} DAY"
        f" AND version_row.created_at <= {AS_OF}"
    )
    return f"""SELECT *
FROM ({current_tasks(window, task_columns)})
WHERE status != 'CLOSED'
    AND {filters}"""


def open_task_count(filters: str) -> str:
    """How many tasks are open."""
    return f"SELECT count() AS open_tasks\nFROM ({open_tasks(filters)})"


def open_tasks_by_stage(filters: str) -> str:
    """Open tasks per current step (the first not done, by their lifecycle events up to the range's
    end; a later step's event completes the earlier ones), and per band of the allowance left: the
    step's due time is that of its SLA events (the SLA stage emits the first at 50 % of the
    allowance, so a step without one has more than half left); the allowance runs from creation, or
    for a second feedback round (二次反馈) from its request. A task fed back and not yet closed has no
    current step and is not counted."""
    done = {
        "RECEPTION": "('RECEIVED', 'DISPATCHED', 'VERIFIED', 'FEEDBACK')",
        "DISPATCH": "('DISPATCHED', 'VERIFIED', 'FEEDBACK')",
        "VERIFICATION": "('VERIFIED', 'FEEDBACK')",
    }
    flags = ",\n        ".join(f"max(type IN {types}) AS {step.lower()}_done" for step, types in done.items())
    counts = ",\n    ".join(f"countIf(band = '{band}') AS {band}" for band in BANDS)
    steps = ", ".join(f"'{step}'" for step in STEPS)
    return f"""SELECT
    stage,
    {counts}
FROM
(
    SELECT
        stage,
        multiIf(
            due_at IS NULL, '{BANDS[0]}',
            due_at <= {AS_OF}, '{BANDS[3]}',
            dateDiff('second', {AS_OF}, assumeNotNull(due_at))
                > 0.25 * dateDiff('second', clock_start, assumeNotNull(due_at)), '{BANDS[0]}',
            dateDiff('second', {AS_OF}, assumeNotNull(due_at))
                >= 0.10 * dateDiff('second', clock_start, assumeNotNull(due_at)), '{BANDS[1]}',
            '{BANDS[2]}'
        ) AS band
    FROM
    (
        SELECT
            task.task_id AS task_id,
            multiIf(NOT reception_done, 'RECEPTION', NOT dispatch_done, 'DISPATCH',
                NOT verification_done, 'VERIFICATION', NOT fed_back, 'FEEDBACK', '') AS stage,
            if(stage = 'FEEDBACK', 1 + refeedbacks, 1) AS cycle,
            if(stage = 'FEEDBACK' AND refeedbacks > 0, last_refeedback_at, task.created_at) AS clock_start
        FROM ({open_tasks(filters)}) AS task
        LEFT JOIN
        (
            SELECT
                task_id,
                {flags},
                uniqExactIf(event_id, type = 'REFEEDBACK_REQUESTED') AS refeedbacks,
                maxIf(occurred_at, type = 'REFEEDBACK_REQUESTED') AS last_refeedback_at,
                maxIf(occurred_at, type = 'FEEDBACK') > last_refeedback_at
                    OR (refeedbacks = 0 AND max(type = 'FEEDBACK')) AS fed_back
            FROM task_events
            WHERE occurred_at <= {AS_OF}
                AND occurred_at > {AS_OF} - INTERVAL {OPEN_TASK_DAYS + 1} DAY
            GROUP BY task_id
        ) AS events ON events.task_id = task.task_id
        WHERE stage != ''
    ) AS current
    LEFT JOIN
    (
        SELECT task_id, toString(step) AS step, cycle, toNullable(max(due_at)) AS due_at
        FROM sla_events AS sla
        WHERE sla.due_at > {AS_OF} - INTERVAL {OPEN_TASK_DAYS + 1} DAY
        GROUP BY task_id, step, cycle
    ) AS due ON due.task_id = current.task_id AND due.step = current.stage AND due.cycle = current.cycle
)
GROUP BY stage
ORDER BY indexOf([{steps}], stage)
SETTINGS join_use_nulls = 1"""


OVERDUE_TASK_COLUMNS = "station_code, region_code, level, fraud_type, sources, masked_name, status"


def overdue_steps(filters: str) -> str:
    """Steps breached (due in the range) and still not done at the range's end, with the task's
    station, level and masked name (张*), most overdue first."""
    return f"""SELECT
    breach.task_id AS task_id,
    task.station_code AS station,
    task.level AS level,
    breach.step AS step,
    breach.cycle AS feedback_round,
    dateDiff('second', breach.due_at, {AS_OF}) AS overdue_by_seconds,
    task.masked_name AS masked_name
FROM
(
    SELECT task_id, toString(step) AS step, cycle, max(due_at) AS due_at
    FROM sla_events AS sla
    WHERE $__timeFilter(sla.due_at)
    GROUP BY task_id, step, cycle
    HAVING max(kind = 'BREACHED') AND NOT max(kind IN ('MET', 'MET_LATE') AND completed_at <= {AS_OF})
) AS breach
INNER JOIN
(
    {current_tasks("version_row.created_at > $__fromTime - INTERVAL 4 DAY", OVERDUE_TASK_COLUMNS)}
) AS task ON task.task_id = breach.task_id
WHERE task.status != 'CLOSED'
    AND {filters}
ORDER BY overdue_by_seconds DESC, task_id, step
LIMIT 500"""


def tasks_by_fraud_type_and_source(filters: str) -> str:
    """Tasks created in the period's China days, per fraud type and warning source (a task warned by
    two sources counts under both)."""
    period = f"toDate(version_row.created_at, {CHINA}) BETWEEN {FIRST_DAY} AND {LAST_DAY}"
    columns = "station_code, region_code, level, fraud_type, sources"
    return f"""SELECT fraud_type, source, count() AS tasks
FROM ({current_tasks(period, columns)})
ARRAY JOIN sources AS source
WHERE {filters}
GROUP BY fraud_type, source
ORDER BY tasks DESC, fraud_type, source"""


def warnings_by_hour(filters: str) -> str:
    """Distinct warnings issued in the range, per China hour of day (0-23, every hour shown);
    `filters` on a warning's columns (`base_filters(sources_column="source")`)."""
    return f"""SELECT toHour(issued_at) AS hour, uniqExact(alert_key) AS warnings
FROM alerts
WHERE $__timeFilter(issued_at)
    AND {filters}
GROUP BY hour
ORDER BY hour WITH FILL FROM 0 TO 24"""


def step_times(filters: CellFilters) -> str:
    """p50/p90 seconds from creation to each step, all selected stations together, one row per step."""
    steps = ", ".join(f"'{step}'" for step in queries.TIMED_STEPS)
    p50 = ", ".join(f"{step}_p50_seconds" for step in queries.TIMED_STEPS)
    p90 = ", ".join(f"{step}_p90_seconds" for step in queries.TIMED_STEPS)
    return f"""SELECT step, p50_seconds, p90_seconds
FROM ({total_of(queries.time_to_step(filters), "*")})
ARRAY JOIN [{steps}] AS step, [{p50}] AS p50_seconds, [{p90}] AS p90_seconds"""


def daily_trend(filters: CellFilters) -> str:
    """Warnings and late steps (steps and feedback rounds not done by their due time) per creation day."""
    late = "reception_due - reception_met + dispatch_due - dispatch_met + verification_due - verification_met"
    return f"""SELECT
    toDateTime(day, {CHINA}) AS time,
    warnings,
    {late} + feedback_overdue AS late_steps
FROM ({queries.daily_kpis(filters)})
WHERE is_total = 1
ORDER BY time"""


def task_details() -> str:
    """The task of the `task_id` variable, its newest version (no time range: pages link here)."""
    columns = (
        "station_code, region_code, level, base_level, fraud_type, sources, status, created_at, "
        "closed_at, masked_name, age_band, prior_victim, prior_warnings_90d"
    )
    task = current_tasks("version_row.task_id = ${task_id:singlequote}", columns)
    return f"SELECT *\nFROM ({task})"


def task_timeline() -> str:
    """The lifecycle and SLA events of the `task_id` variable's task, in time order; an event stored
    twice (a replayed batch) shows once."""
    return """SELECT time, event, step, feedback_round, detail
FROM
(
    SELECT min(occurred_at) AS time, toString(type) AS event, '' AS step, toUInt16(0) AS feedback_round,
        any(concat(ifNull(toString(verify_method), ''), ifNull(toString(outcome), ''),
            ifNull(toString(measure), ''))) AS detail
    FROM task_events
    WHERE task_id = ${task_id:singlequote}
    GROUP BY event_id, type
    UNION ALL
    SELECT min(detected_at) AS time, concat('SLA ', toString(kind)) AS event, toString(step) AS step,
        cycle AS feedback_round, concat('due ', formatDateTime(max(due_at), '%Y-%m-%d %H:%i:%S')) AS detail
    FROM sla_events
    WHERE task_id = ${task_id:singlequote}
    GROUP BY event_id, kind, step, cycle
)
ORDER BY time, event"""
