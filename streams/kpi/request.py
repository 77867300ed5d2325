"""What a KPI report is asked for: a period of whole China days and optional station and level filters.

`riskalert kpi --from --to --station --level` and `GET /v1/kpi?from=&to=&station=&level=` parse
their arguments with the same function, so both accept and refuse the same input.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from streams.kpi.queries import LEVELS, period_parameters

CHINA = ZoneInfo("Asia/Shanghai")
DEFAULT_PERIOD_DAYS = 7


@dataclass(frozen=True)
class Period:
    """Whole days in China time, both included."""

    first_day: date
    last_day: date

    def __post_init__(self) -> None:
        if self.last_day < self.first_day:
            raise ValueError(f"the period ends ({self.last_day}) before it starts ({self.first_day})")

    def as_json(self) -> dict[str, str]:
        """The `period` value of a report: ISO dates, both included."""
        return {"from": self.first_day.isoformat(), "to": self.last_day.isoformat()}


@dataclass(frozen=True)
class KpiRequest:
    """One report: the period, and a station code and level to keep (None: all)."""

    period: Period
    station: str | None = None
    level: str | None = None

    def parameters(self) -> dict[str, object]:
        """The KPI queries' common parameters."""
        return period_parameters(self.period.first_day, self.period.last_day, self.station, self.level)


def today_in_china() -> date:
    """Today's date in China time."""
    return datetime.now(CHINA).date()


def period_of(first_day: date | None, last_day: date | None, today: date | None = None) -> Period:
    """The period from optional bounds: `last_day` defaults to today, `first_day` to six days before
    `last_day` (a week, today included).

    Raises:
        ValueError: `last_day` is before `first_day`.
    """
    last = last_day or today or today_in_china()
    return Period(first_day or last - timedelta(days=DEFAULT_PERIOD_DAYS - 1), last)


def parse_day(text: str, name: str) -> date:
    """A `YYYY-MM-DD` date.

    Raises:
        ValueError: naming the argument and the expected form.
    """
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be a date as YYYY-MM-DD, got {text!r}") from None


def parse_level(text: str | None) -> str | None:
    """A level code (case-insensitive), or None for every level.

    Raises:
        ValueError: naming the accepted levels.
    """
    if not text:
        return None
    level = text.strip().upper()
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {text!r}")
    return level


def parse_request(
    first_day: str | None,
    last_day: str | None,
    station: str | None,
    level: str | None,
    today: date | None = None,
) -> KpiRequest:
    """A request from text arguments (empty or None: the default).

    Raises:
        ValueError: a bad date or level, or a period that ends before it starts.
    """
    period = period_of(
        parse_day(first_day, "from") if first_day else None,
        parse_day(last_day, "to") if last_day else None,
        today,
    )
    return KpiRequest(period, (station or "").strip() or None, parse_level(level))
