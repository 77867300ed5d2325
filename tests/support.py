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
