"""Shaping query rows into the report: keys, order, the total row, the JSON text."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from streams.kpi.report import COUNTS, build_report, report_json
from streams.kpi.request import KpiRequest, Period

REQUEST = KpiRequest(Period(date(2025, 3, 1), date(2025, 3, 1)))
REQUIRED_KEYS = {
    "period",
    "station",
    "tasks",
    "step_compliance",
    "overdue_feedback_rate",
    "face_to_face_rate",
    "dissuasion_rate",
    "post_warning_victimisation_rate",
    "amount_protected_yuan",
}


def _ranking_row(station: str, rank: int, *, total: bool = False, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {name: 0 for name in COUNTS}
    row.update(
        station_code="" if total else station,
        is_total=int(total),
        rank=0 if total else rank,
        card="" if total else "red",
        tasks=0,
        warnings=0,
        reception_compliance=None,
        dispatch_compliance=None,
        verification_compliance=None,
        overdue_feedback_rate=None,
        step_compliance=None,
        face_to_face_rate=None,
        dissuasion_rate=None,
        victimisation_rate=None,
        victimisation_after_dissuasion_rate=None,
        victimisation_never_dissuaded_rate=None,
    )
    row.update(values)
    return row


def _time_row(station: str, *, total: bool = False, p50: int = 60) -> dict[str, Any]:
    times = {f"{step}_p{q}_seconds": p50 * (1 if q == 50 else 3) for step in
             ("reception", "dispatch", "verification", "feedback") for q in (50, 90)}  # fmt: skip
    return {"station_code": "" if total else station, "is_total": int(total), **times}


ROWS = [_ranking_row("S2", 1, tasks=3), _ranking_row("S1", 2, tasks=4, amount_protected_fen=12345),
        _ranking_row("", 0, total=True, tasks=7)]  # fmt: skip
TIMES = [_time_row("S1", p50=120), _time_row("", total=True), _time_row("S2")]


def test_objects_follow_the_ranking_and_end_with_all_stations() -> None:
    report = build_report(REQUEST, ROWS, TIMES)
    assert [(item["station"], item["rank"], item["card"]) for item in report] == [
        ("S2", 1, "red"),
        ("S1", 2, "red"),
        (None, None, None),
    ]
    assert report[1]["time_to_step_seconds"]["dispatch"] == {"p50": 120, "p90": 360}
    assert report[1]["amount_protected_yuan"] == 123.45


def test_every_object_has_the_issue_keys_and_nested_step_compliance() -> None:
    for item in build_report(REQUEST, ROWS, TIMES):
        assert set(item) >= REQUIRED_KEYS
        assert set(item["step_compliance"]) == {"reception", "dispatch", "verification"}
        assert set(item["post_warning_victimisation"]) == {"after_dissuasion", "never_dissuaded"}
        assert item["period"] == {"from": "2025-03-01", "to": "2025-03-01"}


def test_a_station_report_has_no_total_row() -> None:
    request = KpiRequest(REQUEST.period, station="S1")
    report = build_report(request, [ROWS[1], ROWS[2]], TIMES)
    assert [item["station"] for item in report] == ["S1"]


def test_the_json_is_an_array_with_one_object_per_line() -> None:
    report = build_report(REQUEST, ROWS, TIMES)
    text = report_json(report)
    assert json.loads(text) == report
    lines = text.splitlines()
    assert (lines[0], lines[-1]) == ("[", "]")
    assert [json.loads(line.rstrip(",")) for line in lines[1:-1]] == report
    assert report_json([]) == "[]"
