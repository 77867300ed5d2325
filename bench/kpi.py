"""KPI query latency over generated history: every query `riskalert kpi` runs, timed on chDB.

1. Generate `--tasks` tasks (default 10 million) spread over `--days` days ending now, with their task
   versions, warnings, lifecycle events and SLA events, directly into a fresh chDB database with
   ClickHouse's own `INSERT ... SELECT FROM numbers(...)`, in chunks, so the migrations' materialized
   views fill the KPI tables exactly as they do for the sink. Distributions: ~200 stations of uneven
   size and punctuality, four levels, steps met, met late or breached by the default policy's
   allowances, feedback outcomes, face-to-face visits, merged warnings, re-feedback, victimisation
   after warning; events later than now do not exist yet (today's tasks are still open).
2. Refresh the KPI cells (migration 004's refreshable views; timed: this is what keeping the cells
   fresh costs every minute), then time every KPI query (`streams.kpi.queries.ALL_QUERIES`: the two
   `riskalert kpi` runs, and the per-station and per-day ones for dashboards) with the parameters the
   command passes, over today, the last 7 days and the last 30 days, for every station and for the
   busiest one: a warm-up, then `--repeat` runs; p50 and max in ms.

Usage (repository root): .venv/bin/python -m bench.kpi [--tasks 10000000] [--repeat 5] [--path DIR]
Target (issue 6): every KPI query <= 300 ms over 10M tasks, over the periods a wall shows (today, 7 and
30 days; every station, one station, one level); a whole year is timed too, and reported apart.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import chdb
from clickhouse_connect.driver.client import Client

from bench.common import header
from streams.db.client import connect
from streams.db.migrate import migrate
from streams.kpi.cells import HISTORY_VIEW, RECENT_VIEW, refresh_cells
from streams.kpi.queries import ALL_QUERIES, CardThresholds, query_parameters
from streams.kpi.request import CHINA, KpiRequest, Period
from streams.settings import Settings, load_settings

DAY_MS = 86_400_000
STATIONS = 200
LEVELS = "['CRITICAL', 'HIGH', 'MEDIUM', 'LOW']"
# The default policy (deploy/config/sla.yaml) per level, CRITICAL first, in ms.
ALLOWANCE_MS = {
    "reception": "[60000, 300000, 900000, 3600000]",
    "dispatch": "[180000, 600000, 1800000, 7200000]",
    "verification": "[900000, 1800000, 7200000, 86400000]",
    "feedback": "[7200000, 21600000, 86400000, 259200000]",
}
THRESHOLDS = CardThresholds(
    yellow_overdue=0.05, red_overdue=0.10, yellow_compliance=0.95, red_compliance=0.90
)


def uniform(salt: str) -> str:
    """SQL for a deterministic uniform number in [0, 1) per task and salt."""
    return f"(cityHash64(number, '{salt}') % 1000003) / 1000003"


def step_offset(step: str, previous: str) -> str:
    """SQL for a step's completion, ms after creation: late with the station's late probability."""
    allowance = f"{ALLOWANCE_MS[step]}[level_index]"
    drawn = (
        f"if({uniform(step + 'late')} < late_probability, {allowance} * (1 + 2 * {uniform(step)}), "
        f"{allowance} * (0.05 + 0.9 * {uniform(step)}))"
    )
    return f"greatest({previous}, toInt64({drawn}))" if previous else f"toInt64({drawn})"


# One row per task with everything the tables are generated from; every value is a deterministic
# function of the task number, so the three inserts of a chunk agree without sharing state.
PLAN = f"""
SELECT
    number AS n,
    concat('T', substring(lower(hex(sipHash128(number, 'task'))), 1, 23)) AS task_id,
    toInt64({{start_ms:Int64}} + intDiv(number * {{span_ms:Int64}}, {{tasks:UInt64}})) AS created_ms,
    toUInt32(floor({STATIONS} * pow({uniform("station")}, 1.6))) AS station_index,
    concat('3702', leftPad(toString(station_index % 12 + 1), 2, '0'), '-PS',
           leftPad(toString(station_index), 3, '0')) AS station,
    substring(station, 1, 6) AS region,
    0.02 + 0.10 * ((station_index * 37) % 100) / 100 AS late_probability,
    multiIf({uniform("level")} < 0.05, 1, {uniform("level")} < 0.30, 2, {uniform("level")} < 0.70, 3, 4)
        AS base_level_index,
    {uniform("merge")} < 0.2 AS merged,
    if(merged, greatest(1, base_level_index - 1), base_level_index) AS level_index,
    {LEVELS}[base_level_index] AS base_level,
    {LEVELS}[level_index] AS level,
    greatest(1, intDiv({{tasks:UInt64}} * 9, 10)) AS persons,
    if({uniform("person")} < 0.03, NULL,
       lower(hex(sipHash128('person', cityHash64(number, 'who') % persons)))) AS person,
    toInt64(100000 + cityHash64(number, 'amount') % 50000000) AS amount_at_risk_fen,
    {step_offset("reception", "")} AS reception_off,
    {step_offset("dispatch", "reception_off")} AS dispatch_off,
    {step_offset("verification", "dispatch_off")} AS verification_off,
    if({uniform("nofeedback")} < 0.01, toInt64(-1), {step_offset("feedback", "verification_off")})
        AS feedback_off,
    if({uniform("face")} < if(level_index <= 2, 0.65, 0.30), 'FACE_TO_FACE', 'PHONE') AS method,
    multiIf({uniform("outcome")} < 0.72, 'DISSUADED', {uniform("outcome")} < 0.87, 'NO_RISK',
            {uniform("outcome")} < 0.92, 'REFUSED', {uniform("outcome")} < 0.97, 'UNREACHABLE',
            'ALREADY_DEFRAUDED') AS outcome,
    feedback_off >= 0 AND {uniform("refeedback")} < 0.04 AS refeedback,
    if(refeedback, feedback_off + 3600000, toInt64(-1)) AS refeedback_off,
    if(refeedback,
       refeedback_off + toInt64({ALLOWANCE_MS["feedback"]}[level_index] * (0.1 + 1.2 * {uniform("fb2")})),
       toInt64(-1)) AS feedback2_off,
    if(outcome = 'UNREACHABLE', 'DISSUADED', outcome) AS outcome2,
    if(refeedback, outcome2, outcome) AS final_outcome,
    person IS NOT NULL AND {uniform("victim")} < 0.01 AS victimised,
    toInt64(greatest(feedback_off, verification_off) + {DAY_MS} * (1 + 28 * {uniform("when")})) AS victim_off,
    {{now_ms:Int64}} - created_ms AS age_ms
FROM numbers({{first:UInt64}}, {{count:UInt64}})
"""


def ms(expression: str) -> str:
    """SQL turning epoch ms into the tables' DateTime64 in China time."""
    return f"fromUnixTimestamp64Milli(toInt64({expression}), 'Asia/Shanghai')"


TASKS_INSERT = f"""
INSERT INTO tasks (task_id, version, person_key, person_flagged, level, base_level, fraud_type, station_code,
    region_code, sources, alert_keys, first_alert_key, created_at, updated_at, status, closed_at,
    amount_at_risk_fen, masked_name, age_band, resident_type)
SELECT task_id, v.1, person, person IS NULL, v.4, base_level, 'FAKE_INVESTMENT', station, region,
    if(v.1 = 1, ['JZZ'], ['BANK', 'JZZ']), [concat('JZZ:', task_id)], concat('JZZ:', task_id),
    {ms("created_ms")}, {ms("created_ms + v.2")}, v.3,
    if(v.3 = 'CLOSED', {ms("created_ms + v.2")}, NULL), amount_at_risk_fen, '张*', 'AGE_45_59', 'LOCAL'
FROM ({PLAN})
ARRAY JOIN arrayFilter(v -> v.2 <= age_ms, arrayConcat(
    [(toUInt64(1), toInt64(0), 'OPEN', base_level)],
    if(merged, [(toUInt64(2), toInt64(300000), 'OPEN', level)], []),
    if(feedback_off >= 0 AND final_outcome != 'UNREACHABLE',
       [(toUInt64(3), greatest(feedback_off, feedback2_off), 'CLOSED', level)], [])
)) AS v
"""

ALERTS_INSERT = f"""
INSERT INTO alerts (alert_key, source, source_alert_id, issued_at, ingested_at, level, fraud_type,
    station_code, region_code, person_key, person_key_kind, age_band, resident_type, amount_at_risk_fen,
    dedup_outcome, task_id, kafka_topic, kafka_partition, kafka_offset)
SELECT concat(a.1, ':', task_id), a.1, task_id, {ms("created_ms + a.2")}, {ms("created_ms + a.2 + 1000")},
    a.4, 'FAKE_INVESTMENT', station, region, person, if(person IS NULL, 'NONE', 'ID_NUMBER'), 'AGE_45_59',
    'LOCAL', amount_at_risk_fen, a.3, task_id, 'alerts.raw', toUInt32(n % 6), n
FROM ({PLAN})
ARRAY JOIN arrayFilter(a -> a.2 <= age_ms, arrayConcat(
    [('JZZ', toInt64(0), 'new', base_level)],
    if(merged, [('BANK', toInt64(300000), 'merged', level)], []),
    if((cityHash64(n, 'redelivered') % 100) < 5, [('JZZ', toInt64(0), 'duplicate', base_level)], [])
)) AS a
"""

# (type, offset ms or -1, verify method, outcome, amount protected fen, was dissuaded)
EVENTS_INSERT = f"""
INSERT INTO task_events (event_id, task_id, type, occurred_at, ingested_at, source_system, verify_method,
    outcome, amount_protected_fen, was_dissuaded)
SELECT lower(hex(sipHash128(task_id, e.1, e.2))), task_id, e.1, {ms("created_ms + e.2")},
    {ms("created_ms + e.2 + 5000")}, 'bench', e.3, e.4, e.5, e.6
FROM ({PLAN})
ARRAY JOIN arrayFilter(e -> e.2 >= 0 AND e.2 <= age_ms, [
    ('RECEIVED', reception_off, NULL, NULL, NULL, NULL),
    ('DISPATCHED', dispatch_off, NULL, NULL, NULL, NULL),
    ('VERIFIED', verification_off, method, NULL, NULL, NULL),
    ('FEEDBACK', feedback_off, NULL, outcome,
        if(outcome = 'DISSUADED', intDiv(amount_at_risk_fen * 8, 10), 0), NULL),
    ('REFEEDBACK_REQUESTED', refeedback_off, NULL, NULL, NULL, NULL),
    ('FEEDBACK', feedback2_off, NULL, outcome2,
        if(outcome2 = 'DISSUADED', intDiv(amount_at_risk_fen * 8, 10), 0), NULL),
    ('VICTIMISED_AFTER_WARNING', if(victimised, victim_off, toInt64(-1)), NULL, NULL, NULL,
        final_outcome = 'DISSUADED')
]::Array(Tuple(String, Int64, Nullable(String), Nullable(String), Nullable(Int64), Nullable(Bool)))) AS e
"""


def unit_events(step: str, cycle: int, start: str, allowance: str, done: str) -> str:
    """SQL for one step unit's SLA events as (step, cycle, kind, due, detected, completed) offsets.

    `start` is when the unit's clock started, `done` when it was completed (-1: never), both ms after
    creation; warnings and the breach fire when their threshold passes before completion.
    """
    due = f"({start} + {allowance})"
    open_at = f"(({done}) < 0 OR ({done}) > ({{threshold}}))"
    kinds = [
        ("AT_RISK_50", f"({start} + intDiv({allowance}, 2))"),
        ("AT_RISK_75", f"({start} + intDiv({allowance} * 3, 4))"),
        ("BREACHED", due),
    ]
    parts = [
        f"if({open_at.format(threshold=at)}, "
        f"[('{step}', {cycle}, '{kind}', {due}, {at} + 1, toInt64(-1))], [])"
        for kind, at in kinds
    ]
    parts.append(
        f"if(({done}) >= 0, [('{step}', {cycle}, if(({done}) <= {due}, 'MET', 'MET_LATE'), {due}, {done}, "
        f"toInt64({done}))], [])"
    )
    return f"if({start} < 0, [], arrayConcat({', '.join(parts)}))"


SLA_UNITS = [
    unit_events("RECEPTION", 1, "toInt64(0)", f"{ALLOWANCE_MS['reception']}[level_index]", "reception_off"),
    unit_events("DISPATCH", 1, "toInt64(0)", f"{ALLOWANCE_MS['dispatch']}[level_index]", "dispatch_off"),
    unit_events(
        "VERIFICATION", 1, "toInt64(0)", f"{ALLOWANCE_MS['verification']}[level_index]", "verification_off"
    ),
    unit_events("FEEDBACK", 1, "toInt64(0)", f"{ALLOWANCE_MS['feedback']}[level_index]", "feedback_off"),
    unit_events("FEEDBACK", 2, "refeedback_off", f"{ALLOWANCE_MS['feedback']}[level_index]", "feedback2_off"),
]

SLA_INSERT = f"""
INSERT INTO sla_events (event_id, task_id, step, cycle, kind, due_at, detected_at, completed_at, implied,
    overdue_by_ms, level, station_code, region_code, fraud_type, sources)
SELECT concat(task_id, ':', s.1, ':', toString(s.2), ':', s.3), task_id, s.1, s.2, s.3,
    {ms("created_ms + s.4")}, {ms("created_ms + s.5")},
    if(s.6 < 0, NULL, {ms("created_ms + s.6")}), false, toUInt64(greatest(0, s.5 - s.4)), level, station,
    region, 'FAKE_INVESTMENT', if(merged, ['BANK', 'JZZ'], ['JZZ'])
FROM ({PLAN})
ARRAY JOIN arrayFilter(s -> s.5 <= age_ms, arrayConcat({", ".join(SLA_UNITS)})) AS s
"""

INSERTS = {
    "tasks": TASKS_INSERT,
    "alerts": ALERTS_INSERT,
    "task_events": EVENTS_INSERT,
    "sla_events": SLA_INSERT,
}


@dataclass(frozen=True)
class Timing:
    """One query's runs over one period and filter."""

    query: str
    label: str
    runs_ms: list[float]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.runs_ms)

    @property
    def max_ms(self) -> float:
        return max(self.runs_ms)


def generate(client: Client, tasks: int, days: int, chunk: int, now_ms: int) -> dict[str, float]:
    """Insert every table's rows chunk by chunk; returns the seconds spent per table."""
    spent = dict.fromkeys(INSERTS, 0.0)
    span_ms = days * DAY_MS
    common = {"start_ms": now_ms - span_ms, "span_ms": span_ms, "tasks": tasks, "now_ms": now_ms}
    for first in range(0, tasks, chunk):
        parameters = {**common, "first": first, "count": min(chunk, tasks - first)}
        for table, sql in INSERTS.items():
            started = time.perf_counter()
            client.command(sql, parameters=parameters)
            spent[table] += time.perf_counter() - started
        done = first + parameters["count"]
        print(f"  {done:>11,} tasks generated ({sum(spent.values()):.0f} s)", flush=True)
    return spent


def table_counts(client: Client) -> list[tuple[str, int, int]]:
    """(table, rows, active parts) of every table in the database."""
    result = client.query(
        "SELECT table, sum(rows), count() FROM system.parts WHERE database = currentDatabase() AND active "
        "GROUP BY table ORDER BY table"
    )
    return [(str(table), int(rows), int(parts)) for table, rows, parts in result.result_rows]


def time_refreshes(client: Client, repeat: int) -> dict[str, list[float]]:
    """Seconds each cells refresh takes: the history once, the recent window `repeat` times."""
    started = time.perf_counter()
    refresh_cells(client, history=True)
    both = time.perf_counter() - started
    recent = []
    for _ in range(repeat):
        started = time.perf_counter()
        refresh_cells(client, history=False)
        recent.append(time.perf_counter() - started)
    return {f"{HISTORY_VIEW} + {RECENT_VIEW}": [both], RECENT_VIEW: recent}


def busiest_station(client: Client, since: date) -> str:
    """The station with most tasks since `since` (the station filter's worst case)."""
    result = client.query(
        "SELECT station_code FROM tasks WHERE created_at >= {since:Date} GROUP BY station_code "
        "ORDER BY uniqExact(task_id) DESC LIMIT 1",
        parameters={"since": since},
    )
    return str(result.result_rows[0][0])


def requests(today: date, station: str) -> dict[str, KpiRequest]:
    """The periods a wall shows (today, last 7 and 30 days), for every station and for one; then 30 days
    of one level, and a whole year (which reads the daily-refreshed cells)."""
    periods = {
        "today": Period(today, today),
        "7 days": Period(today - timedelta(days=6), today),
        "30 days": Period(today - timedelta(days=29), today),
    }
    plans = {label: KpiRequest(period) for label, period in periods.items()}
    plans.update({f"{label}, one station": KpiRequest(period, station) for label, period in periods.items()})
    plans["30 days, level HIGH"] = KpiRequest(periods["30 days"], level="HIGH")
    plans["365 days"] = KpiRequest(Period(today - timedelta(days=364), today))
    return plans


def time_queries(client: Client, plans: dict[str, KpiRequest], repeat: int) -> list[Timing]:
    """Run each query over each request: one warm-up, then `repeat` timed runs."""
    timings = []
    for name, sql in ALL_QUERIES.items():
        for label, request in plans.items():
            parameters = query_parameters(name, request.parameters(), THRESHOLDS)
            client.query(sql, parameters=parameters)
            runs = []
            for _ in range(repeat):
                started = time.perf_counter()
                client.query(sql, parameters=parameters)
                runs.append((time.perf_counter() - started) * 1000)
            timings.append(Timing(name, label, runs))
    return timings


def machine_facts() -> str:
    """nproc, memory, Python and chDB versions (bench.common.header prints the CPU model)."""
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    return f"nproc {nproc}, Python {platform.python_version()}, chdb {chdb.__version__}"


# Periods beyond the target's (a wall shows today, a week, a month): timed and printed, not judged.
BEYOND_TARGET = frozenset({"365 days"})


def print_timings(timings: list[Timing], target_ms: float) -> None:
    """One line per query and period, then whether every query met the target over the wall's periods."""
    print(f"\n{'query':<16} {'period':<24} {'p50 ms':>8} {'max ms':>8}")
    for timing in timings:
        print(f"{timing.query:<16} {timing.label:<24} {timing.p50_ms:>8.0f} {timing.max_ms:>8.0f}")
    judged = [timing for timing in timings if timing.label not in BEYOND_TARGET]
    slowest = max(judged, key=lambda timing: timing.max_ms)
    verdict = "MET" if slowest.max_ms <= target_ms else "NOT MET"
    print(
        f"\nslowest over today, 7 and 30 days: {slowest.query} over {slowest.label}, "
        f"max {slowest.max_ms:.0f} ms; target every query <= {target_ms:.0f} ms: {verdict}"
    )
    beyond = [timing for timing in timings if timing.label in BEYOND_TARGET]
    if beyond:
        worst = max(beyond, key=lambda timing: timing.max_ms)
        print(f"beyond the target's periods: {worst.query} over {worst.label}, max {worst.max_ms:.0f} ms")


@contextmanager
def database_path(path: str | None) -> Iterator[Path]:
    """The chDB path: `path` as given (kept), or a temporary one removed afterwards."""
    if path:
        yield Path(path)
        return
    directory = Path(tempfile.mkdtemp(prefix="bench-kpi-"))
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def settings_for(path: Path) -> Settings:
    """Settings whose DSN is the benchmark's own chDB path (never the local stack's)."""
    return load_settings(clickhouse_dsn=f"chdb://{path}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000_000, help="tasks to generate")
    parser.add_argument("--days", type=int, default=365, help="days of history, ending now")
    parser.add_argument("--chunk", type=int, default=500_000, help="tasks per INSERT ... SELECT")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per query and period")
    parser.add_argument("--path", default=None, help="chDB path to keep (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="time the database at --path, generate nothing")
    parser.add_argument("--target-ms", type=float, default=300.0, help="latency target per query")
    args = parser.parse_args()
    header("KPI query latency (issue 6)", "bench.kpi")
    print(f"machine facts: {machine_facts()}")
    now = datetime.now(CHINA)
    with database_path(args.path) as path:
        settings = settings_for(path)
        admin = connect(settings, use_database=False)
        try:
            if not args.reuse:
                migrate(admin, database=settings.clickhouse.database, ttl_days=7300)
        finally:
            admin.close()
        client = connect(settings)
        try:
            if not args.reuse:
                print(f"generating {args.tasks:,} tasks over {args.days} days into {path}")
                started = time.perf_counter()
                spent = generate(client, args.tasks, args.days, args.chunk, int(now.timestamp() * 1000))
                total = time.perf_counter() - started
                per_table = ", ".join(f"{table} {seconds:.0f} s" for table, seconds in spent.items())
                print(f"generated in {total:.0f} s ({per_table})")
            for view, seconds in time_refreshes(client, args.repeat).items():
                runs = ", ".join(f"{value:.1f}" for value in seconds)
                print(f"refresh {view}: {runs} s")
            for table, rows, parts in table_counts(client):
                print(f"  {table:<22} {rows:>12,} rows {parts:>4} parts")
            station = busiest_station(client, now.date() - timedelta(days=29))
            print(f"one station: {station} (the busiest of the last 30 days)")
            print_timings(time_queries(client, requests(now.date(), station), args.repeat), args.target_ms)
        finally:
            client.close()


if __name__ == "__main__":
    main()
