"""The detail of simulated records: what a station writes in its events, and the malformed lines.

Every function draws from the generator's `random.Random`, so a seed gives the same records.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from streams.sim import calibration as cal
from streams.sim.model import Line
from streams.sim.people import id_number, mobile

NOTES = {
    "DISSUADED": "已劝阻，当事人停止转账",
    "NO_RISK": "核实无风险",
    "UNREACHABLE": "多次联系未果",
    "REFUSED": "当事人拒不听劝",
    "ALREADY_DEFRAUDED": "当事人已转账被骗",
}


def assignee(rng: random.Random, station: cal.StationProfile, level: str) -> dict[str, Any]:
    """A DISPATCHED event's staff code: grid workers take most medium and low tasks."""
    suffix = station.code.rsplit("-", 1)[1]
    if level in ("MEDIUM", "LOW") and rng.random() < 0.6:
        return {"assignee": f"{suffix}-W{rng.randint(1, 60):03d}", "assignee_type": "GRID_WORKER"}
    return {"assignee": f"{suffix}-M{rng.randint(1, 40):03d}", "assignee_type": "OFFICER"}


def verification(rng: random.Random, level: str, fund: bool) -> dict[str, Any]:
    """A VERIFIED event's method: face to face for nearly every fund warning and most urgent ones."""
    share = cal.FACE_TO_FACE["fund"] if fund else cal.FACE_TO_FACE[level]
    if rng.random() < share:
        return {"verify_method": "FACE_TO_FACE", "verify_result": "民警上门见面核查"}
    return {"verify_method": "PHONE", "verify_result": "电话联系本人核实"}


def feedback(rng: random.Random, outcome: str, amount_yuan: float) -> dict[str, Any]:
    """A FEEDBACK event's outcome, amounts and note."""
    detail: dict[str, Any] = {"outcome": outcome}
    if outcome == "DISSUADED" and amount_yuan:
        detail["amount_protected_yuan"] = f"{amount_yuan:.2f}"
    if outcome == "ALREADY_DEFRAUDED":
        detail["amount_lost_yuan"] = f"{amount_yuan or rng.randint(500, 20_000):.2f}"
    detail["note"] = NOTES[outcome]
    return detail


def measure(rng: random.Random, fund: bool) -> dict[str, Any]:
    """A PROTECTIVE_MEASURE after a refusal: payments for money on the move, else either."""
    return {"measure": "RESTRICT_PAYMENT" if fund or rng.random() < 0.5 else "RESTRICT_CALLS"}


def insert_malformed(
    rng: random.Random,
    lines: list[Line],
    rate: float,
    kinds: Sequence[str],
    build: Callable[[Line, str], Line],
) -> None:
    """Insert malformed lines after randomly chosen ones, cycling through the defect kinds."""
    picked = [index for index in range(len(lines)) if rng.random() < rate]
    for number, index in enumerate(reversed(picked)):
        lines.insert(index + 1, build(lines[index], kinds[number % len(kinds)]))


def bad_alert(rng: random.Random, model: Line, kind: str, source_alert_id: str) -> Line:
    """A warning with one defect, under a fresh source alert id (it must never reach a task)."""
    record = {**(model.record or {}), "source_alert_id": source_alert_id}
    if kind == "bad_json":
        text = json.dumps(record, ensure_ascii=False)
        return Line(model.at_ms, None, raw=text[: len(text) // 2], malformed=kind)
    if kind == "bad_id_number":
        good = record.get("id_number") or id_number(rng, date(1980, 5, 17))
        record["id_number"] = good[:17] + ("0" if good[17] != "0" else "1")
    elif kind == "bad_enum":
        record["level"] = "URGENT"
    elif kind == "missing_field":
        del record["station_code"]
    elif kind == "bad_phone":
        record.pop("id_number", None)
        record["phone"] = mobile(rng)[:5]
    return Line(model.at_ms, record, malformed=kind)


def bad_event(model: Line, kind: str) -> Line:
    """A task event with one defect."""
    record = dict(model.record or {})
    if kind == "bad_json":
        text = json.dumps(record, ensure_ascii=False)
        return Line(model.at_ms, None, raw=text[: len(text) // 2], malformed=kind)
    if kind == "missing_field":
        record = {**record, "type": "FEEDBACK"}
        record.pop("outcome", None)
    elif kind == "bad_enum":
        record["type"] = "ACKNOWLEDGED"
    elif kind == "bad_timestamp":
        record["occurred_at"] = "昨天下午"
    return Line(model.at_ms, record, malformed=kind)
