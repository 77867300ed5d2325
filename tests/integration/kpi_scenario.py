"""The fixed KPI scenario: tasks, lifecycle events and SLA events of three stations on 2025-03-01,
written into chDB the way the sink writes them (`streams.db.rows`, `streams.db.insert.insert_rows`),
with replays. tests/integration/test_kpi.py holds the hand-computed figures.

Every task (China time; default policy: HIGH 5 min / 10 min / 30 min / 6 h, CRITICAL 1 / 3 / 15 min /
2 h, MEDIUM 15 / 30 min / 2 h / 24 h, LOW 60 min / 2 h / 24 h / 72 h):

| task | station | level | person | created | what happens |
|---|---|---|---|---|---|
| T1 | S1 | HIGH → CRITICAL | P1 | 10:00 | 2 warnings merged; dispatch late; face to face; UNREACHABLE, |
|    |    |                 |    |       | re-feedback, late DISSUADED 50 yuan; victim after dissuasion |
| T2 | S1 | HIGH | P2 | 11:00 | reception reported after its breach page, done in time; phone; |
|    |    |      |    |       | ALREADY_DEFRAUDED; victim, never dissuaded |
| T3 | S1 | HIGH | P3 | 12:00 | verification late; no feedback yet (feedback breached) |
| T4 | S1 | HIGH | P1 | 15:00 | the same person as T1 again; face to face; NO_RISK |
| T5 | S2 | MEDIUM | none | 09:00 | face to face; late feedback (next day), DISSUADED 20 yuan |
| T6 | S2 | LOW | P5 | 08:00 | phone; REFUSED; its events are stored before the task |
| T7 | S2 | HIGH | P6 | 13:00 | phone; UNREACHABLE, never fed back again |
| T10 | S3 | HIGH | P7 | 09:30 | all on time; face to face; DISSUADED 10 yuan |
| T8 | S1 | HIGH | P8 | 02-28 23:50 | the day before; its feedback is due on 03-01 |
| T9 | S2 | MEDIUM | P9 | 03-02 00:10 | the day after; received, dispatch breached |
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from clickhouse_connect.driver.client import Client

from streams.db import rows
from streams.db.client import connect
from streams.db.insert import insert_rows
from streams.db.migrate import migrate
from streams.kpi.cells import refresh_cells
from streams.settings import Settings, load_settings
from tests.support import sla_event_record, task_record

CHINA = ZoneInfo("Asia/Shanghai")
# Keep 2025's rows for 20 years, so the fixed dates never expire.
TTL_DAYS = 7300


def at(text: str) -> int:
    """Epoch ms of a China-time `YYYY-MM-DD HH:MM[:SS]`, or of `HH:MM[:SS]` on 2025-03-01."""
    full = text if "-" in text else f"2025-03-01 {text}"
    return int(datetime.fromisoformat(full).replace(tzinfo=CHINA).timestamp() * 1000)


# task: (station, level, person key (a stand-in for the HMAC), created)
TASKS: dict[str, tuple[str, str, str | None, str]] = {
    "T1": ("S1", "HIGH", "P1", "10:00"),
    "T2": ("S1", "HIGH", "P2", "11:00"),
    "T3": ("S1", "HIGH", "P3", "12:00"),
    "T4": ("S1", "HIGH", "P1", "15:00"),
    "T5": ("S2", "MEDIUM", None, "09:00"),
    "T6": ("S2", "LOW", "P5", "08:00"),
    "T7": ("S2", "HIGH", "P6", "13:00"),
    "T10": ("S3", "HIGH", "P7", "09:30"),
    "T8": ("S1", "HIGH", "P8", "2025-02-28 23:50"),
    "T9": ("S2", "MEDIUM", "P9", "2025-03-02 00:10"),
}


def task(task_id: str, version: int = 1, **changes: Any) -> dict[str, Any]:
    """A version of a scenario task."""
    station, level, person, created = TASKS[task_id]
    fields = {
        "version": version,
        "updated_at": at(created) + version * 1000,
        "person_key": person,
        "person_flagged": person is None,
        "level": level,
        "base_level": level,
        "station_code": station,
        "region_code": "370202",
        "masked_name": "张*",
    }
    return task_record(task_id, at(created), **{**fields, **changes})


def event(task_id: str, kind: str, when: str, **fields: Any) -> dict[str, Any]:
    """A lifecycle event of a scenario task."""
    return {
        "event_id": f"{task_id}-{kind}-{when}",
        "task_id": task_id,
        "type": kind,
        "occurred_at": at(when),
        "ingested_at": at(when) + 5000,
        "source_system": "scenario",
        **fields,
    }


def sla(
    task_id: str, step: str, kind: str, due: str, cycle: int = 1, done: str | None = None
) -> dict[str, Any]:
    """An SLA event of a scenario task (`done`: when the step was completed, for MET and MET_LATE)."""
    station, level, _, _ = TASKS[task_id]
    return sla_event_record(
        task_id,
        step,
        kind,
        at(due),
        cycle,
        detected_at=at(done or due) + 1,
        completed_at=at(done) if done else None,
        overdue_by_ms=max(0, at(done or due) - at(due)),
        level=level,
        station_code=station,
    )


def on_time(task_id: str, step: str, due: str, done: str, cycle: int = 1) -> list[dict[str, Any]]:
    """A step done by its due time."""
    return [sla(task_id, step, "MET", due, cycle, done)]


def late(task_id: str, step: str, due: str, done: str | None, cycle: int = 1) -> list[dict[str, Any]]:
    """A step breached at its due time and, when `done`, completed late."""
    events = [sla(task_id, step, "AT_RISK_50", due, cycle), sla(task_id, step, "BREACHED", due, cycle)]
    return events + ([sla(task_id, step, "MET_LATE", due, cycle, done)] if done else [])


FACE, PHONE = {"verify_method": "FACE_TO_FACE"}, {"verify_method": "PHONE"}


def feedback(task_id: str, when: str, outcome: str, fen: int = 0) -> dict[str, Any]:
    return event(task_id, "FEEDBACK", when, outcome=outcome, amount_protected_fen=fen)


VERSIONS = [
    task("T1", 1),
    task("T1", 2, level="CRITICAL", sources=["BANK", "JZZ"], alert_keys=["BANK:T1b", "JZZ:T1"]),  # merged
    task(
        "T1",
        3,
        level="CRITICAL",
        sources=["BANK", "JZZ"],
        alert_keys=["BANK:T1b", "JZZ:T1"],
        status="CLOSED",
        closed_at=at("14:00"),
    ),
    task("T2"),
    task("T3"),
    task("T4"),
    task("T5"),
    task("T7"),
    task("T10"),
    task("T8"),
    task("T9"),
]
LATE_VERSIONS = [task("T6")]  # stored after its events

EVENTS = [
    event("T1", "RECEIVED", "10:00:30"),
    event("T1", "DISPATCHED", "10:04"),
    event("T1", "VERIFIED", "10:10", **FACE),
    feedback("T1", "11:00", "UNREACHABLE"),
    event("T1", "REFEEDBACK_REQUESTED", "11:30"),
    feedback("T1", "14:00", "DISSUADED", 5000),
    event("T1", "VICTIMISED_AFTER_WARNING", "2025-03-10 08:00", was_dissuaded=True),
    event("T2", "RECEIVED", "11:03"),
    event("T2", "DISPATCHED", "11:08"),
    event("T2", "VERIFIED", "11:20", **PHONE),
    feedback("T2", "13:00", "ALREADY_DEFRAUDED"),
    event("T2", "VICTIMISED_AFTER_WARNING", "2025-03-05 08:00", was_dissuaded=False),
    event("T3", "RECEIVED", "12:01"),
    event("T3", "DISPATCHED", "12:05"),
    event("T3", "VERIFIED", "12:40", **PHONE),
    event("T4", "RECEIVED", "15:02"),
    event("T4", "DISPATCHED", "15:06"),
    event("T4", "VERIFIED", "15:20", **FACE),
    feedback("T4", "16:00", "NO_RISK"),
    event("T5", "RECEIVED", "09:10"),
    event("T5", "DISPATCHED", "09:20"),
    event("T5", "VERIFIED", "10:00", **FACE),
    feedback("T5", "2025-03-02 10:00", "DISSUADED", 2000),
    event("T6", "RECEIVED", "08:30"),
    event("T6", "DISPATCHED", "09:00"),
    event("T6", "VERIFIED", "12:00", **PHONE),
    feedback("T6", "14:00", "REFUSED"),
    event("T7", "RECEIVED", "13:04"),
    event("T7", "DISPATCHED", "13:09"),
    event("T7", "VERIFIED", "13:25", **PHONE),
    feedback("T7", "15:00", "UNREACHABLE"),
    event("T10", "RECEIVED", "09:31"),
    event("T10", "DISPATCHED", "09:35"),
    event("T10", "VERIFIED", "09:50", **FACE),
    feedback("T10", "10:30", "DISSUADED", 1000),
    event("T8", "RECEIVED", "2025-02-28 23:51"),
    event("T8", "DISPATCHED", "2025-02-28 23:55"),
    event("T8", "VERIFIED", "00:10", **PHONE),
    feedback("T8", "02:00", "DISSUADED", 3000),
    event("T9", "RECEIVED", "2025-03-02 00:20"),
]

SLA_EVENTS = [
    # T1, CRITICAL from its merge on: reception 10:01, dispatch 10:03, verification 10:15, feedback 12:00;
    # the re-feedback request at 11:30 opens cycle 2, due 13:30.
    *on_time("T1", "RECEPTION", "10:01", "10:00:30"),
    *late("T1", "DISPATCH", "10:03", "10:04"),
    *on_time("T1", "VERIFICATION", "10:15", "10:10"),
    *on_time("T1", "FEEDBACK", "12:00", "11:00"),
    *late("T1", "FEEDBACK", "13:30", "14:00", cycle=2),
    # T2: the breach page went out at 11:05, then the 11:03 reception was reported: met.
    sla("T2", "RECEPTION", "BREACHED", "11:05"),
    *on_time("T2", "RECEPTION", "11:05", "11:03"),
    *on_time("T2", "DISPATCH", "11:10", "11:08"),
    *on_time("T2", "VERIFICATION", "11:30", "11:20"),
    *on_time("T2", "FEEDBACK", "17:00", "13:00"),
    *on_time("T3", "RECEPTION", "12:05", "12:01"),
    *on_time("T3", "DISPATCH", "12:10", "12:05"),
    *late("T3", "VERIFICATION", "12:30", "12:40"),
    *late("T3", "FEEDBACK", "18:00", None),
    *on_time("T4", "RECEPTION", "15:05", "15:02"),
    *on_time("T4", "DISPATCH", "15:10", "15:06"),
    *on_time("T4", "VERIFICATION", "15:30", "15:20"),
    *on_time("T4", "FEEDBACK", "21:00", "16:00"),
    *on_time("T5", "RECEPTION", "09:15", "09:10"),
    *on_time("T5", "DISPATCH", "09:30", "09:20"),
    *on_time("T5", "VERIFICATION", "11:00", "10:00"),
    *late("T5", "FEEDBACK", "2025-03-02 09:00", "2025-03-02 10:00"),
    *on_time("T6", "RECEPTION", "09:00", "08:30"),
    *on_time("T6", "DISPATCH", "10:00", "09:00"),
    *on_time("T6", "VERIFICATION", "2025-03-02 08:00", "12:00"),
    *on_time("T6", "FEEDBACK", "2025-03-04 08:00", "14:00"),
    *on_time("T7", "RECEPTION", "13:05", "13:04"),
    *on_time("T7", "DISPATCH", "13:10", "13:09"),
    *on_time("T7", "VERIFICATION", "13:30", "13:25"),
    *on_time("T7", "FEEDBACK", "19:00", "15:00"),
    *on_time("T10", "RECEPTION", "09:35", "09:31"),
    *on_time("T10", "DISPATCH", "09:40", "09:35"),
    *on_time("T10", "VERIFICATION", "10:00", "09:50"),
    *on_time("T10", "FEEDBACK", "15:30", "10:30"),
    *on_time("T8", "RECEPTION", "2025-02-28 23:55", "2025-02-28 23:51"),
    *on_time("T8", "DISPATCH", "2025-03-01 00:00", "2025-02-28 23:55"),
    *on_time("T8", "VERIFICATION", "00:20", "00:10"),
    *on_time("T8", "FEEDBACK", "05:50", "02:00"),
    *on_time("T9", "RECEPTION", "2025-03-02 00:25", "2025-03-02 00:20"),
    *late("T9", "DISPATCH", "2025-03-02 00:40", None),
]


def _insert(client: Client, spec: rows.TableRows, records: list[dict[str, Any]], token: str) -> None:
    insert_rows(client, spec.table, spec.columns, [spec.row(record) for record in records], token)


def write(client: Client) -> None:
    """Store the scenario as a replaying sink would: T6's events before T6, and batches sent again."""
    tasks, events, slas = (rows.BY_RECORD_TYPE[name] for name in ("Task", "TaskEvent", "SlaEvent"))
    _insert(client, events, EVENTS, "tasks.events:0:0-39")
    _insert(client, tasks, VERSIONS, "tasks:0:0-10")
    _insert(client, slas, SLA_EVENTS, "sla.events:0:0-99")
    _insert(client, tasks, LATE_VERSIONS, "tasks:0:11-11")
    # A crash replay cut at other offsets (new tokens): a task version, events and SLA events again.
    _insert(client, tasks, VERSIONS[1:3], "tasks:0:1-2")
    _insert(client, events, EVENTS[:7], "tasks.events:0:0-6")
    _insert(client, slas, SLA_EVENTS[:12], "sla.events:0:0-11")


def load(settings: Settings | None = None) -> None:
    """Migrate the settings' database, store the scenario and refresh the KPI cells (a child process
    runs this: chDB lets one process own a data path)."""
    settings = settings or load_settings()
    admin = connect(settings, use_database=False)
    try:
        migrate(admin, database=settings.clickhouse.database, ttl_days=TTL_DAYS)
    finally:
        admin.close()
    client = connect(settings)
    try:
        write(client)
        refresh_cells(client)
    finally:
        client.close()
