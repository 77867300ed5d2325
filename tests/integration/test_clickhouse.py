"""The ClickHouse layer against a real embedded chDB: migrations, idempotent inserts and the KPIs.

chDB hosts one engine (one data path) per process, shared by every client in it, and a second process
cannot open a path the first one holds. So this module uses one engine path, gives each test its own
database, and closes every client at the end; the CLI tests run `riskalert` in child processes on
paths of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from clickhouse_connect.driver.client import Client

from streams.codec import HEADER_BYTES, default_codec
from streams.db import avro_blocks, rows
from streams.db.client import connect
from streams.db.errors import ClickHouseError, MigrationError, RefusedBlock
from streams.db.insert import batch_token, insert_avro, insert_rows
from streams.db.migrate import Migration, load_migrations, migrate
from streams.settings import Settings, load_settings
from tests.integration.cli import riskalert
from tests.support import alert_record, sla_event_record, task_event_record, task_record

CHINA = ZoneInfo("Asia/Shanghai")
# Fixed dates, so the expected figures are fixed; the KPI databases keep rows for 20 years.
LONG_TTL_DAYS = 7300

OpenDatabase = Callable[..., Client]


def at(text: str) -> int:
    """Epoch ms of a China-time `YYYY-MM-DD HH:MM`."""
    return int(datetime.fromisoformat(text).replace(tzinfo=CHINA).timestamp() * 1000)


@pytest.fixture(scope="module")
def engine_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings whose DSN is this module's chDB path.

    Built afresh rather than with `model_copy`: a copy keeps the cached `Settings.clickhouse` target.
    """
    path = tmp_path_factory.mktemp("chdb") / "engine"
    return load_settings(clickhouse_dsn=f"chdb://{path}")


@pytest.fixture(scope="module")
def open_database(engine_settings: Settings) -> Iterator[OpenDatabase]:
    """Creates a migrated database of its own for a test; every client is closed after the module."""
    clients: list[Client] = []

    def open_(ttl_days: int = LONG_TTL_DAYS) -> Client:
        client = connect(engine_settings, use_database=False)
        clients.append(client)
        database = f"t_{uuid.uuid4().hex[:10]}"
        migrate(client, database=database, ttl_days=ttl_days)
        client.database = database
        return client

    yield open_
    for client in clients:
        client.close()


# --- migrations ----------------------------------------------------------------------------------


def _tables(client: Client, database: str) -> list[str]:
    result = client.query(
        # A refreshable view's refresh builds a table `.tmp.inner_id.*` for a moment: not part of the schema.
        "SELECT name FROM system.tables WHERE database = {db:String} AND NOT startsWith(name, '.tmp.') "
        "ORDER BY name",
        {"db": database},
    )
    return [name for (name,) in result.result_rows]


def test_migrate_twice_is_idempotent(engine_settings: Settings) -> None:
    client = connect(engine_settings, use_database=False)
    try:
        first = migrate(client, database="twice", ttl_days=1095)
        tables = _tables(client, "twice")
        second = migrate(client, database="twice", ttl_days=1095)
        tables_again = _tables(client, "twice")
        recorded = client.query(
            "SELECT version, name, checksum FROM twice.schema_migrations ORDER BY version"
        )
    finally:
        client.close()
    names = [migration.name for migration in load_migrations()]
    assert (first.applied, first.already_applied) == (names, [])
    assert (second.applied, second.already_applied) == ([], names)
    assert tables_again == tables
    assert {"alerts", "tasks", "task_events", "sla_events", "victim_cases", "kpi_cells_recent"} <= set(tables)
    assert recorded.result_rows == [(m.version, m.name, m.checksum) for m in load_migrations()]


def test_a_changed_migration_is_refused(engine_settings: Settings) -> None:
    client = connect(engine_settings, use_database=False)
    try:
        migrate(client, database="edited", ttl_days=1095)
        original = load_migrations()
        edited = [Migration(1, original[0].name, original[0].text + "\n-- edited\n"), *original[1:]]
        with pytest.raises(MigrationError, match=r"001_tables\.sql was changed after it was applied"):
            migrate(client, database="edited", ttl_days=1095, migrations=edited)
    finally:
        client.close()


def test_retention_is_the_configured_ttl(open_database: OpenDatabase) -> None:
    default_client, long_client = open_database(ttl_days=1095), open_database()
    for client, days in ((default_client, 1095), (long_client, LONG_TTL_DAYS)):
        for table in (
            "alerts",
            "tasks",
            "task_events",
            "sla_events",
            "victim_cases",
            "kpi_task_attrs_by_day",
            "kpi_task_facts_by_day",
            "kpi_cells_recent",
            "kpi_cells_history",
        ):
            ddl = client.command(f"SHOW CREATE TABLE {table}")
            assert f"toIntervalDay({days})" in str(ddl), (table, ddl)


def test_connect_names_the_missing_database(engine_settings: Settings) -> None:
    # The database of a chdb:// target is "riskalert", which no test here creates.
    assert engine_settings.clickhouse.database == "riskalert"
    with pytest.raises(
        ClickHouseError, match=r"(?s)Database riskalert does not exist.*run `riskalert db migrate`"
    ):
        connect(engine_settings)


# --- idempotent inserts --------------------------------------------------------------------------


def _alert(key: str, person: str | None, station: str, issued: str, source: str = "JZZ") -> dict[str, Any]:
    return {
        "alert_key": key,
        "source": source,
        "source_alert_id": key.split(":", 1)[1],
        "issued_at": at(issued),
        "ingested_at": at(issued) + 1000,
        "level": "HIGH",
        "fraud_type": "FAKE_INVESTMENT",
        "station_code": station,
        "region_code": "R1",
        "person_key": person,
        "person_key_kind": "ID_NUMBER" if person else "NONE",
        "masked_name": "张*",
        "masked_phone": "138****5678",
        "age_band": "AGE_60_PLUS",
        "resident_type": "LOCAL",
        "amount_at_risk_fen": 100_000,
        "suspect_account_hash": None,
        "channel": "CALL",
        "extras": {},
    }


def test_same_batch_twice_with_the_same_token_lands_once(open_database: OpenDatabase) -> None:
    client = open_database()
    batch = [
        rows.alert_row(
            _alert(f"JZZ:{n}", f"p{n}", "S1", "2025-03-01 10:00"), rows.KafkaPosition("alerts.raw", 2, n)
        )
        for n in range(100, 105)
    ]
    token = batch_token("alerts.raw", 2, 100, 104)
    for _ in range(2):
        assert insert_rows(client, rows.ALERTS, rows.ALERT_COLUMNS, batch, token) == 5
    assert client.query("SELECT count() FROM alerts").result_rows == [(5,)]
    insert_rows(client, rows.ALERTS, rows.ALERT_COLUMNS, batch, batch_token("alerts.raw", 2, 100, 999))
    assert client.query("SELECT count() FROM alerts").result_rows == [(10,)]  # a new token is new data


def test_insert_errors_name_the_table_and_batch(open_database: OpenDatabase) -> None:
    client = open_database()
    with pytest.raises(ClickHouseError, match=r"into no_such_table \(batch t:0:1-2\)"):
        insert_rows(client, "no_such_table", ["x"], [[1]], "t:0:1-2")


# --- a known dataset, written as a replaying sink writes it (the KPIs: test_kpi.py) ----------------

TASKS = {
    # task: (station, person, created)
    "T1": ("S1", "P1", "2025-03-01 10:00"),
    "T2": ("S1", "P2", "2025-03-01 11:00"),
    "T3": ("S1", "P3", "2025-03-01 12:00"),
    "T4": ("S2", "P4", "2025-03-01 09:00"),
    "T5": ("S2", None, "2025-03-01 09:30"),
    "T6": ("S3", "P1", "2025-02-28 23:50"),  # warned the day before: outside the period's task rates
    "T7": ("S2", "P5", "2025-03-01 08:00"),
}


def _task(task_id: str, version: int, **changes: Any) -> dict[str, Any]:
    station, person, created = TASKS[task_id]
    fields = {
        "version": version,
        "updated_at": at(created) + version,
        "person_key": person,
        "person_flagged": person is None,
        "station_code": station,
        "region_code": "R1",
    }
    return task_record(task_id, at(created), **{**fields, **changes})


def _event(task_id: str, kind: str, when: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"{task_id}-{kind}-{when}", "task_id": task_id, "type": kind, "occurred_at": at(when),
            "ingested_at": at(when) + 5000, **fields}  # fmt: skip


def _sla(task_id: str, step: str, kind: str, due: str, cycle: int = 1) -> dict[str, Any]:
    completed_at = at(due) - 60_000 if kind == "MET" else None
    return sla_event_record(
        task_id,
        step,
        kind,
        at(due),
        cycle,
        completed_at=completed_at,
        station_code=TASKS[task_id][0],
        region_code="R1",
    )


def _steps(task_id: str, kinds: dict[str, list[str]], due: str) -> list[dict[str, Any]]:
    return [_sla(task_id, step, kind, due) for step, step_kinds in kinds.items() for kind in step_kinds]


FACE, PHONE = {"verify_method": "FACE_TO_FACE"}, {"verify_method": "PHONE"}
TASK_EVENTS = [
    _event("T1", "VERIFIED", "2025-03-01 10:20", **FACE),
    _event("T1", "FEEDBACK", "2025-03-01 11:00", outcome="UNREACHABLE", amount_protected_fen=0),
    _event("T1", "REFEEDBACK_REQUESTED", "2025-03-01 11:30"),
    _event("T1", "FEEDBACK", "2025-03-01 12:00", outcome="DISSUADED", amount_protected_fen=5000),
    _event("T1", "VICTIMISED_AFTER_WARNING", "2025-03-10 08:00", was_dissuaded=True),
    _event("T2", "VERIFIED", "2025-03-01 11:20", **PHONE),
    _event("T2", "FEEDBACK", "2025-03-01 13:00", outcome="ALREADY_DEFRAUDED", amount_protected_fen=0),
    _event("T2", "VICTIMISED_AFTER_WARNING", "2025-03-05 08:00", was_dissuaded=False),
    _event("T3", "VERIFIED", "2025-03-01 12:40", **PHONE),
    _event("T4", "VERIFIED", "2025-03-01 09:20", **FACE),
    _event("T4", "FEEDBACK", "2025-03-01 10:00", outcome="NO_RISK", amount_protected_fen=0),
    _event("T5", "VERIFIED", "2025-03-01 09:50", **FACE),
    _event("T5", "FEEDBACK", "2025-03-01 10:30", outcome="DISSUADED", amount_protected_fen=2000),
    _event("T7", "VERIFIED", "2025-03-01 09:00", **PHONE),
    _event("T7", "FEEDBACK", "2025-03-01 09:30", outcome="REFUSED", measure=None, amount_protected_fen=0),
]
SLA_EVENTS = [
    # S1: reception 3/3 (T2 met but reported after its breach page), dispatch 2/3, verification 2/3,
    # feedback 2 of 4 units on time (T1 has a second feedback cycle, breached).
    *_steps(
        "T1",
        {"RECEPTION": ["MET"], "DISPATCH": ["BREACHED", "MET_LATE"], "VERIFICATION": ["MET"]},
        "2025-03-01 10:30",
    ),
    _sla("T1", "FEEDBACK", "MET", "2025-03-01 16:00"),
    _sla("T1", "FEEDBACK", "BREACHED", "2025-03-01 17:30", cycle=2),
    *_steps(
        "T2",
        {"RECEPTION": ["BREACHED", "MET"], "DISPATCH": ["MET"], "VERIFICATION": ["MET"], "FEEDBACK": ["MET"]},
        "2025-03-01 11:30",
    ),
    *_steps(
        "T3",
        {
            "RECEPTION": ["MET"],
            "DISPATCH": ["MET"],
            "VERIFICATION": ["AT_RISK_50", "BREACHED"],
            "FEEDBACK": ["BREACHED"],
        },
        "2025-03-01 12:30",
    ),
    # S2: reception 3/3, dispatch 3/3, verification 2/3, feedback 3/3.
    *_steps(
        "T4",
        {step: ["MET"] for step in ("RECEPTION", "DISPATCH", "VERIFICATION", "FEEDBACK")},
        "2025-03-01 09:30",
    ),
    *_steps(
        "T5",
        {step: ["MET"] for step in ("RECEPTION", "DISPATCH", "VERIFICATION", "FEEDBACK")},
        "2025-03-01 10:00",
    ),
    *_steps(
        "T7",
        {
            "RECEPTION": ["MET"],
            "DISPATCH": ["MET"],
            "VERIFICATION": ["BREACHED", "MET_LATE"],
            "FEEDBACK": ["MET"],
        },
        "2025-03-01 08:30",
    ),
    # S3: only T6's feedback is due in the period; its other steps were due the day before.
    *_steps("T6", {"RECEPTION": ["MET"], "DISPATCH": ["MET"], "VERIFICATION": ["MET"]}, "2025-02-28 23:59"),
    _sla("T6", "FEEDBACK", "MET", "2025-03-01 05:50"),
]
ALERTS = [
    (_alert("JZZ:T1", "P1", "S1", "2025-03-01 10:00"), "new", "T1"),
    (_alert("BANK:T1b", "P1", "S1", "2025-03-01 10:05", source="BANK"), "merged", "T1"),
    (_alert("JZZ:T1", "P1", "S1", "2025-03-01 10:00"), "duplicate", "T1"),  # a re-delivery
    (_alert("JZZ:T2", "P2", "S1", "2025-03-01 11:00"), "new", "T2"),
    (_alert("JZZ:T4", "P4", "S2", "2025-03-01 09:00"), "new", "T4"),
]


def _insert(client: Client, table: str, columns: tuple[str, ...], batch: list[rows.Row], token: str) -> None:
    assert insert_rows(client, table, columns, batch, token) == len(batch)


@pytest.fixture(scope="module")
def kpi_client(open_database: OpenDatabase) -> Client:
    """A database holding the known dataset, written the way a replaying sink would write it."""
    client = open_database()
    # T7's events arrive before its task: the per-task facts must not depend on the order.
    _insert(
        client,
        rows.TASK_EVENTS,
        rows.TASK_EVENT_COLUMNS,
        [rows.task_event_row(e) for e in TASK_EVENTS],
        "e:0:0-14",
    )
    versions = [
        _task(
            "T2", 2
        ),  # the newer version first: the station comes from the highest version, not the last row
        _task("T2", 1, station_code="S9"),
        _task("T1", 1),
        _task("T1", 2, level="CRITICAL"),
        _task("T1", 3, level="CRITICAL", status="CLOSED", closed_at=at("2025-03-01 12:00")),
        *(_task(task_id, 1) for task_id in ("T3", "T4", "T5", "T6", "T7")),
    ]
    _insert(client, rows.TASKS, rows.TASK_COLUMNS, [rows.task_row(task) for task in versions], "t:0:0-10")
    _insert(
        client,
        rows.SLA_EVENTS,
        rows.SLA_EVENT_COLUMNS,
        [rows.sla_event_row(e) for e in SLA_EVENTS],
        "s:0:0-40",
    )
    alert_rows = [
        rows.alert_row(
            alert, rows.KafkaPosition("alerts.raw", 0, offset), dedup_outcome=outcome, task_id=task
        )
        for offset, (alert, outcome, task) in enumerate(ALERTS)
    ]
    _insert(client, rows.ALERTS, rows.ALERT_COLUMNS, alert_rows, "a:0:0-4")
    # A crash replay re-batched differently (new tokens): a task version, a task event and SLA events again.
    _insert(
        client, rows.TASKS, rows.TASK_COLUMNS, [rows.task_row(_task("T1", 2, level="CRITICAL"))], "t:0:3-3"
    )
    _insert(
        client, rows.TASK_EVENTS, rows.TASK_EVENT_COLUMNS, [rows.task_event_row(TASK_EVENTS[3])], "e:0:3-3"
    )
    replayed = [rows.sla_event_row(e) for e in SLA_EVENTS[:3]]
    _insert(client, rows.SLA_EVENTS, rows.SLA_EVENT_COLUMNS, replayed, "s:0:0-2")
    return client


def test_latest_task_state_and_replays_in_the_base_tables(kpi_client: Client) -> None:
    latest = kpi_client.query(
        "SELECT task_id, version, station_code, status FROM tasks FINAL ORDER BY task_id"
    )
    assert [row[:2] for row in latest.result_rows] == [
        ("T1", 3), ("T2", 2), ("T3", 1), ("T4", 1), ("T5", 1), ("T6", 1), ("T7", 1)
    ]  # fmt: skip
    assert latest.result_rows[0][3] == "CLOSED"
    assert latest.result_rows[1][2] == "S1"
    distinct_sla = kpi_client.query("SELECT count(), uniqExact(event_id) FROM sla_events FINAL").result_rows
    assert distinct_sla == [(len(SLA_EVENTS), len(SLA_EVENTS))]


# --- the commands ----------------------------------------------------------------------------------


def test_db_migrate_command(settings: Settings, tmp_path: Path) -> None:
    env = {"RISKALERT_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'cli'}", "RISKALERT_CLICKHOUSE_TTL_DAYS": "7300"}
    first = riskalert(settings, "db", "migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert "applied   001_tables.sql" in first.stdout
    again = riskalert(settings, "db", "migrate", env=env)
    assert "ok        002_kpi_rollups.sql" in again.stdout
    assert "applied" not in again.stdout
    assert "ok        005_kpi_facts_by_day.sql" in again.stdout


def test_db_migrate_prints_the_cluster_ddl_without_connecting(settings: Settings, tmp_path: Path) -> None:
    env = {"RISKALERT_CLICKHOUSE_DSN": f"chdb://{tmp_path / 'never'}"}
    result = riskalert(settings, "db", "migrate", "--cluster", "prod", "--print-sql", env=env)
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE IF NOT EXISTS riskalert.tasks_local ON CLUSTER prod" in result.stdout
    assert "ENGINE = Distributed(prod, riskalert, tasks_local, cityHash64(task_id))" in result.stdout
    assert not (tmp_path / "never").exists()


def test_a_held_chdb_path_is_a_clear_error(
    settings: Settings, engine_settings: Settings, open_database: OpenDatabase
) -> None:
    open_database()  # this process holds the module's engine path, and serves no KPI API
    dsn = engine_settings.clickhouse_dsn.get_secret_value()
    result = riskalert(
        settings, "kpi", env={"RISKALERT_CLICKHOUSE_DSN": dsn, "RISKALERT_SINK_METRICS_PORT": "9"}
    )
    assert result.returncode == 1
    assert "chDB lets one process own a data path" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


# --- Avro insert blocks (the sink's fast path) -------------------------------------------------------


def _varied_records() -> dict[str, list[dict[str, Any]]]:
    """Records of every sink input type, with every optional field both set and unset."""
    start = at("2025-03-01 09:00")
    feedback = {
        "source_system": "JZZ",
        "assignee": "officer-17",
        "assignee_type": "GRID_WORKER",
        "verify_method": "FACE_TO_FACE",
        "verify_result": "confirmed risk",
        "outcome": "DISSUADED",
        "amount_protected_fen": 5_000_000,
        "amount_lost_fen": 0,
        "measure": "RESTRICT_PAYMENT",
        "was_dissuaded": True,
        "note": "劝阻成功, 已见面",
        "extras": {"cycle": "2", "平台": "金钟罩"},
    }
    return {
        "RawAlert": [
            alert_record(1, start),
            alert_record(2, start + 1, suspect_account_hash="ab" * 32, channel=None, masked_phone=None),
            alert_record(3, start + 2, person_key=None, person_key_kind="NONE", extras={"k": "值"}),
        ],
        "Task": [
            task_record("T1", start),
            task_record(
                "T2",
                start,
                version=3,
                status="CLOSED",
                closed_at=start + 60_000,
                last_case_at=start - 86_400_000,
                prior_victim=True,
                prior_fraud_types=["ROMANCE", "FAKE_LOAN"],
                sources=["JZZ", "MPS_FUND"],
                masked_phone="138****5678",
            ),
        ],
        "TaskEvent": [
            task_event_record("T1", 0, "RECEIVED", start),
            task_event_record("T1", 1, "FEEDBACK", start + 5, **feedback),
        ],
        "SlaEvent": [
            sla_event_record("T1", "RECEPTION", "MET", start),
            sla_event_record(
                "T1",
                "FEEDBACK",
                "MET_LATE",
                start,
                cycle=2,
                completed_at=start + 9,
                implied=True,
                overdue_by_ms=9,
            ),
        ],
        "VictimRecord": [
            {
                "case_id": "C1",
                "person_key": "f" * 64,
                "relative_keys": ["e" * 64, "d" * 64],
                "case_at": start,
                "loss_fen": 123_456,
                "fraud_type": "ROMANCE",
                "station_code": None,
                "ingested_at": start + 1,
            }
        ],
    }


def test_avro_blocks_land_the_same_rows_as_decoded_inserts(open_database: OpenDatabase) -> None:
    """The sink hands ClickHouse the bodies it read as an Avro block; the rows must be exactly those of
    the Python-decoded path, for every table and every optional field set or not."""
    codec = default_codec()
    by_avro, by_rows = open_database(), open_database()
    for record_type, records in _varied_records().items():
        values = [codec.encode(record_type, record) for record in records]
        offsets = list(range(100, 100 + len(values)))
        bodies = [value[HEADER_BYTES:] for value in values]
        schema = codec.current_schema(record_type)
        if record_type == "RawAlert":
            table, columns = rows.ALERTS, rows.ALERT_COLUMNS
            block = avro_blocks.alerts_block(schema, "p.alerts.raw", 4, offsets, bodies)
            decoded = [
                rows.alert_row(codec.decode(v)[1], rows.KafkaPosition("p.alerts.raw", 4, o))
                for o, v in zip(offsets, values, strict=True)
            ]
        else:
            spec = rows.BY_RECORD_TYPE[record_type]
            table, columns = spec.table, spec.columns
            block = avro_blocks.container(schema, bodies)
            decoded = [spec.row(codec.decode(v)[1]) for v in values]
        insert_avro(by_avro, table, columns, block, f"{table}:0:100-199")
        insert_avro(by_avro, table, columns, block, f"{table}:0:100-199")  # a replay adds nothing
        insert_rows(by_rows, table, columns, decoded, f"{table}:0:100-199")
        query = f"SELECT * FROM {table} ORDER BY tuple(*)"
        landed = by_avro.query(query).result_rows
        assert len(landed) == len(records), table
        assert landed == by_rows.query(query).result_rows, table


def test_a_block_clickhouse_cannot_read_is_refused_not_retried(open_database: OpenDatabase) -> None:
    codec = default_codec()
    client = open_database()
    good = codec.encode("TaskEvent", task_event_record("T1", 0, "RECEIVED", at("2025-03-01 09:00")))
    corrupt = good[:HEADER_BYTES] + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01" + good[HEADER_BYTES + 10 :]
    block = avro_blocks.container(
        codec.current_schema("TaskEvent"), [good[HEADER_BYTES:], corrupt[HEADER_BYTES:]]
    )
    with pytest.raises(RefusedBlock, match=r"Avro insert into task_events \(batch e:0:0-1\) failed"):
        insert_avro(client, rows.TASK_EVENTS, rows.TASK_EVENT_COLUMNS, block, "e:0:0-1")
    assert client.query("SELECT count() FROM task_events").result_rows == [(0,)]
