"""Test data helpers shared by unit and integration tests."""

from __future__ import annotations

from streams.ingest.identity import id_check_char


def make_id_number(region: str = "110105", birth: str = "19900307", sequence: int = 1) -> str:
    """A valid GB 11643 ID number with the given region, birth date (YYYYMMDD) and sequence (0-999)."""
    first17 = f"{region}{birth}{sequence:03d}"
    return first17 + id_check_char(first17)


def make_phone(n: int) -> str:
    """A distinct, valid mainland mobile number."""
    return f"139{n:08d}"


def iso_ago(minutes: float) -> str:
    """An ISO-8601 Shanghai time `minutes` before now, so fixtures never age out of ingest's window."""
    from datetime import datetime, timedelta, timezone

    shanghai = timezone(timedelta(hours=8))
    return (datetime.now(shanghai) - timedelta(minutes=minutes)).isoformat(timespec="seconds")


def ms_ago(minutes: float) -> int:
    """Epoch milliseconds `minutes` before now."""
    import time

    return int((time.time() - minutes * 60) * 1000)


def task_record(task_id: str, created_at: int, **changes: object) -> dict[str, object]:
    """A valid Task record (version 1, HIGH, one JZZ warning), with `changes` applied."""
    task: dict[str, object] = {
        "task_id": task_id,
        "version": 1,
        "person_key": f"p-{task_id}",
        "person_flagged": False,
        "level": "HIGH",
        "base_level": "HIGH",
        "level_raised_for_prior_victim": False,
        "fraud_type": "FAKE_INVESTMENT",
        "station_code": "370202-PS01",
        "region_code": "370202",
        "sources": ["JZZ"],
        "alert_keys": [f"JZZ:{task_id}"],
        "first_alert_key": f"JZZ:{task_id}",
        "created_at": created_at,
        "updated_at": created_at,
        "status": "OPEN",
        "closed_at": None,
        "amount_at_risk_fen": 100_000,
        "masked_name": "张*",
        "masked_phone": None,
        "age_band": "AGE_45_59",
        "resident_type": "LOCAL",
        "prior_victim": False,
        "prior_case_count": 0,
        "prior_loss_total_fen": 0,
        "last_case_at": None,
        "relatives_with_history": 0,
        "prior_warnings_90d": 0,
        "prior_fraud_types": [],
    }
    return {**task, **changes}


def alert_record(n: int, issued_at: int, **changes: object) -> dict[str, object]:
    """A valid, pseudonymised RawAlert (as ingest writes it) for warning `n`, with `changes` applied."""
    alert: dict[str, object] = {
        "alert_key": f"JZZ:JZZ-{n:08d}",
        "source": "JZZ",
        "source_alert_id": f"JZZ-{n:08d}",
        "issued_at": issued_at,
        "ingested_at": issued_at + 1500,
        "level": "HIGH",
        "fraud_type": "FAKE_INVESTMENT",
        "station_code": f"370202-PS{n % 12 + 1:02d}",
        "region_code": "370202",
        "person_key": f"{n:064x}",
        "person_key_kind": "ID_NUMBER",
        "masked_name": "张*",
        "masked_phone": "138****5678",
        "age_band": "AGE_60_PLUS",
        "resident_type": "LOCAL",
        "amount_at_risk_fen": 100_000 + n,
        "suspect_account_hash": None,
        "channel": "CALL",
        "extras": {},
    }
    return {**alert, **changes}


def task_event_record(
    task_id: str, n: int, kind: str, occurred_at: int, **changes: object
) -> dict[str, object]:
    """A valid TaskEvent of `kind` (RECEIVED, DISPATCHED, ...) for a task, with `changes` applied."""
    event: dict[str, object] = {
        "event_id": f"{task_id}-{n:03d}",
        "task_id": task_id,
        "type": kind,
        "occurred_at": occurred_at,
        "ingested_at": occurred_at + 500,
    }
    return {**event, **changes}


def sla_event_record(
    task_id: str, step: str, kind: str, due_at: int, cycle: int = 1, **changes: object
) -> dict[str, object]:
    """A valid SlaEvent of a task's step in feedback cycle `cycle`, with `changes` applied."""
    event: dict[str, object] = {
        "event_id": f"{task_id}:{step}:{cycle}:{kind}",
        "task_id": task_id,
        "step": step,
        "cycle": cycle,
        "kind": kind,
        "due_at": due_at,
        "detected_at": due_at,
        "completed_at": None,
        "implied": False,
        "overdue_by_ms": 0,
        "level": "HIGH",
        "station_code": "370202-PS01",
        "region_code": "370202",
        "fraud_type": "FAKE_INVESTMENT",
        "sources": ["JZZ"],
    }
    return {**event, **changes}


NAMES = ["张三丰", "李四", "王小五", "欧阳娜娜", "赵六"]


def raw_alert(n: int, **overrides: object) -> dict[str, object]:
    """A warning as an upstream platform sends it: raw ID number, phone and name (ingest input)."""
    record: dict[str, object] = {
        "source": ["JZZ", "MPS_FUND", "NAC_APP", "BANK"][n % 4],
        "source_alert_id": f"A-{n:05d}",
        "issued_at": iso_ago(60),
        "level": ["CRITICAL", "HIGH", "MEDIUM", "LOW"][n % 4],
        "fraud_type": "FAKE_INVESTMENT",
        "station_code": f"S{n % 12:02d}",
        "region_code": "R330106",
        "id_number": make_id_number(sequence=n % 1000),
        "phone": make_phone(n),
        "name": NAMES[n % len(NAMES)],
        "amount_at_risk_yuan": "1999.99",
        "case_note": f"victim called back from {make_phone(n)}",
    }
    record.update(overrides)
    return record


def raw_identifiers(records: list[dict[str, object]]) -> set[str]:
    """The raw ID numbers, phones and names in ingest input records."""
    found = set()
    for record in records:
        for field in ("id_number", "phone", "name"):
            if isinstance(record.get(field), str):
                found.add(str(record[field]))
    return found
