"""Run the KPI queries and join their rows into one report line per station."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client
from rich.markup import escape
from rich.table import Table

from streams.db.errors import ClickHouseError
from streams.kpi.queries import (
    STATION_RANKING,
    STEP_COMPLIANCE,
    TASK_OUTCOMES,
    WARNINGS,
    CardThresholds,
    period_parameters,
)


@dataclass(frozen=True)
class Period:
    """Whole days in China time: `since` included, `until` excluded."""

    since: date
    until: date

    def __post_init__(self) -> None:
        if self.until <= self.since:
            raise ValueError(f"the period ends ({self.until}) before it starts ({self.since})")


DEFAULT_PERIOD_DAYS = 7
CHINA = ZoneInfo("Asia/Shanghai")


def period_of(since: date | None, until: date | None, today: date | None = None) -> Period:
    """The period from optional bounds: `until` defaults to tomorrow (today included), `since` to a week
    before `until`.

    Raises:
        ValueError: `until` is not after `since`.
    """
    end = until or (today or datetime.now(CHINA).date()) + timedelta(days=1)
    return Period(since or end - timedelta(days=DEFAULT_PERIOD_DAYS), end)


def run_query(client: Client, name: str, sql: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of one KPI query as dicts.

    Raises:
        ClickHouseError: naming the query.
    """
    try:
        return list(client.query(sql, parameters=dict(parameters)).named_results())
    except Exception as exc:  # clickhouse-connect raises several kinds; each means the query failed
        raise ClickHouseError(f"KPI query {name} failed: {exc}") from exc


def station_report(
    client: Client, period: Period, thresholds: CardThresholds, station: str | None = None
) -> list[dict[str, Any]]:
    """One dict per station: ranking (SLA rates, card, rank), task outcomes and warning counts.

    Stations are in rank order; stations with tasks but nothing due yet follow, by code.
    """
    common = period_parameters(period.since, period.until, station)
    ranking = run_query(client, "STATION_RANKING", STATION_RANKING, {**common, **thresholds.parameters()})
    outcomes = run_query(client, "TASK_OUTCOMES", TASK_OUTCOMES, common)
    warnings = run_query(client, "WARNINGS", WARNINGS, common)
    return merge_by_station(ranking, outcomes, warnings)


def step_compliance(client: Client, period: Period, station: str | None = None) -> list[dict[str, Any]]:
    """Per station and step: units due, met on time, and the compliance rate."""
    return run_query(
        client, "STEP_COMPLIANCE", STEP_COMPLIANCE, period_parameters(period.since, period.until, station)
    )


def merge_by_station(
    first: Iterable[Mapping[str, Any]], *others: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Join row sets on `station_code`: the stations of `first` in its order, then the others by code.

    Raises:
        ValueError: two row sets have a column of the same name (one would hide the other).
    """
    merged: dict[str, dict[str, Any]] = {str(row["station_code"]): dict(row) for row in first}
    later: dict[str, dict[str, Any]] = {}
    for rows in others:
        for row in rows:
            code = str(row["station_code"])
            target = (merged if code in merged else later).setdefault(code, {})
            clash = (target.keys() & row.keys()) - {"station_code"}
            if clash:
                raise ValueError(f"KPI columns {sorted(clash)} come from two queries")
            target.update(row)
    return [*merged.values(), *(later[code] for code in sorted(later))]


# (header, report key, kind) of the columns `riskalert kpi` prints.
REPORT_COLUMNS = (
    ("rank", "rank", "int"),
    ("station", "station_code", "text"),
    ("card", "card", "card"),
    ("签收 reception", "reception_compliance", "rate"),
    ("派发 dispatch", "dispatch_compliance", "rate"),
    ("核查 verification", "verification_compliance", "rate"),
    ("超期反馈 overdue feedback", "overdue_feedback_rate", "rate"),
    ("tasks", "tasks", "int"),
    ("见面 face-to-face", "face_to_face_rate", "rate"),
    ("劝阻 dissuasion", "dissuasion_rate", "rate"),
    ("预后被骗 victimised", "victimisation_rate", "rate"),
    ("after dissuasion", "victimisation_after_dissuasion_rate", "rate"),
    ("never dissuaded", "victimisation_never_dissuaded_rate", "rate"),
)


def report_table(report: Iterable[Mapping[str, Any]], period: Period) -> Table:
    """The station report as a rich table; `-` where a rate has nothing to divide by."""
    table = Table(title=f"riskalert KPIs {period.since} to {period.until} (excluded)")
    for header, _, kind in REPORT_COLUMNS:
        table.add_column(header, justify="left" if kind in ("text", "card") else "right")
    for row in report:
        table.add_row(*(format_cell(row.get(key), kind) for _, key, kind in REPORT_COLUMNS))
    return table


def format_cell(value: Any, kind: str) -> str:
    """One report value as rich markup: rates as percentages, cards coloured."""
    if value is None:
        return "-"
    if kind == "rate":
        return f"{float(value):.1%}"
    if kind == "card":
        return {"red": "[red]red[/red]", "yellow": "[yellow]yellow[/yellow]"}.get(str(value), "")
    return escape(str(value))
