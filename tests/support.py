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
