"""Run the KPI queries and shape their rows into the report `riskalert kpi` and `GET /v1/kpi` return.

A report is a list of JSON-able objects: one per station with a task created in the period, in rank
order (ties by station code), then one for all stations together (`"station": null`, no rank or
card) unless the report is filtered to one station. `report_json` is the one text both
the command and the HTTP API emit: a JSON array with one object per line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from clickhouse_connect.driver.client import Client

from streams.db.errors import ClickHouseError
from streams.kpi.queries import REPORT_QUERIES, TIMED_STEPS, CardThresholds, query_parameters
from streams.kpi.request import KpiRequest

Row = Mapping[str, Any]

# The count columns a report object carries under "counts".
COUNTS = (
    "reception_due",
    "reception_met",
    "dispatch_due",
    "dispatch_met",
    "verification_due",
    "verification_met",
    "feedback_due",
    "feedback_met",
    "feedback_overdue",
    "tasks_with_feedback",
    "face_to_face",
    "risk_confirmed",
    "dissuaded",
    "amount_protected_fen",
    "warned_persons",
    "victimised_persons",
    "victimised_after_dissuasion",
    "victimised_never_dissuaded",
)


def run_query(client: Client, name: str, sql: str, parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows of one KPI query as dicts.

    Raises:
        ClickHouseError: naming the query.
    """
    try:
        return list(client.query(sql, parameters=dict(parameters)).named_results())
    except Exception as exc:  # clickhouse-connect raises several kinds; each means the query failed
        raise ClickHouseError(f"KPI query {name} failed: {exc}") from exc


def station_report(client: Client, request: KpiRequest, thresholds: CardThresholds) -> list[dict[str, Any]]:
    """Run the report queries and shape the report (see the module docstring).

    Raises:
        ClickHouseError: a query failed (named).
    """
    results = {
        name: run_query(client, name, sql, query_parameters(name, request.parameters(), thresholds))
        for name, sql in REPORT_QUERIES.items()
    }
    return build_report(request, results["STATION_RANKING"], results["TIME_TO_STEP"])


def row_key(row: Row) -> tuple[bool, str]:
    """What identifies a station's row (or the total's) across the report queries."""
    return bool(row["is_total"]), str(row["station_code"])


def build_report(request: KpiRequest, ranking: Iterable[Row], times: Iterable[Row]) -> list[dict[str, Any]]:
    """The report objects from the queries' rows, in the ranking's order (stations, then the total).

    The total is left out of a report filtered to one station, where it would repeat the station.
    """
    times_by_key = {row_key(row): row for row in times}
    return [
        report_object(request, {**times_by_key.get(row_key(row), {}), **row})
        for row in ranking
        if not (row["is_total"] and request.station is not None)
    ]


def report_object(request: KpiRequest, row: Row) -> dict[str, Any]:
    """One station's (or all stations') KPIs; a rate with nothing to divide by is null."""
    return {
        "period": request.period.as_json(),
        "station": None if row["is_total"] else str(row["station_code"]),
        "level": request.level,
        "rank": row["rank"] or None,
        "card": row["card"] or None,
        "tasks": int(row["tasks"]),
        "step_compliance": {
            "reception": row["reception_compliance"],
            "dispatch": row["dispatch_compliance"],
            "verification": row["verification_compliance"],
        },
        "overdue_feedback_rate": row["overdue_feedback_rate"],
        "face_to_face_rate": row["face_to_face_rate"],
        "dissuasion_rate": row["dissuasion_rate"],
        "post_warning_victimisation_rate": row["victimisation_rate"],
        "amount_protected_yuan": int(row["amount_protected_fen"]) / 100,
        "post_warning_victimisation": {
            "after_dissuasion": row["victimisation_after_dissuasion_rate"],
            "never_dissuaded": row["victimisation_never_dissuaded_rate"],
        },
        "step_compliance_pooled": row["step_compliance"],
        "time_to_step_seconds": {
            step: {"p50": row.get(f"{step}_p50_seconds"), "p90": row.get(f"{step}_p90_seconds")}
            for step in TIMED_STEPS
        },
        "warnings": int(row["warnings"]),
        "counts": {name: int(row[name]) for name in COUNTS},
    }


def report_json(report: Iterable[Mapping[str, Any]]) -> str:
    """The report as a JSON array, one object per line (valid JSON, and easy to grep)."""
    lines = [json.dumps(item, ensure_ascii=False) for item in report]
    return "[\n" + ",\n".join(lines) + "\n]" if lines else "[]"
